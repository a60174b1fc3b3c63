"""The console's web shell (aiohttp): pages, forms and their guards."""
