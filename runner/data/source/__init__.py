"""Clients for Binance's public market data: the bulk archive (data.binance.vision) and the
USDT-M futures REST API, behind one polite HTTP client."""
