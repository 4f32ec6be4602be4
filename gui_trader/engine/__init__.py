"""Trading logic on asyncio; sees brokers only through broker/base.py."""
