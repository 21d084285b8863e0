"""Diamra's domain: designs, quotes, the generation queue, orders and staff accounts.

Never imports torch, diffusers or the web framework.
"""
