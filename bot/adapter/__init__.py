"""Web frameworks the bot is served through, each behind a module of its own (as Bolt keeps `adapter/aiohttp`)."""
