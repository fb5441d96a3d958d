"""Security primitives: column encryption, keyed lookup hashes, password hashing."""
