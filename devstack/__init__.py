"""Dev-only local stack: everything `make dev` runs on one machine (moto, handlers, mail lab)."""
