"""eft-fit: SMEFT Wilson-coefficient fits, binned (SMEFiT approach) or unbinned (ML4EFT approach)."""
from .task import Config, EftTask

TASK = EftTask()

__all__ = ["TASK", "Config", "EftTask"]
