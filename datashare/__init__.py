"""datashare: share student data with community partners, safely."""

__version__ = "0.1.0"
