"""The mapping engine: `map_source(...)` proposes a canonical field for every column of a source object."""

from .engine import map_source
from .types import Column, FieldProposal, MappingResult

__all__ = ["Column", "FieldProposal", "MappingResult", "map_source"]
