"""candlecast: compute once, trade many.

A producer bot analyzes candles and broadcasts the analyzed dataframes over the
message websocket; consumer bots keep exact copies and trade on them.
"""

__version__ = "0.1.0"
