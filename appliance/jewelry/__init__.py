"""What a jeweler knows: the catalog, the spec, ring sizes, geometry, pricing, feasibility and the price book's model and rules. Pure: no SQL, no files, no settings."""
