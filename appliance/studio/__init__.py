"""The use cases, one function each, called by pages and API alike: designs and their images, rounds and the job queue, orders and their events, uploads, price-book versions, the worker loop."""
