"""customer-retention"""

__version__ = "0.1"
