"""A person's wallet: the credentials issued to their DIDs, and the presentations they made from them."""
