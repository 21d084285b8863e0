"""A customer's words to a spec: the normalised text, the description reader, stone phrases and a round's instructions. Pure, and uses only jewelry/."""
