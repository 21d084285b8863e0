"""Image generators. The only package allowed to import torch or diffusers."""
