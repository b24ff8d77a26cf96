"""Movie seat reservations: live seat maps, holds that expire, no seat sold twice."""

__version__ = "0.1.0"
