"""backendless_aio: an asyncio-native client for the Backendless user service."""
