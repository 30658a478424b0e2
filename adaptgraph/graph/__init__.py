"""Tracing a backbone into an fx graph, and the points (ports, stream, nodes) that specs name."""
from .capture import node_values
from .ports import PointInfo, module_ports
from .resolve import resolve_glob_pair, resolve_point
from .stream import stream_points
from .tracing import FRONTENDS, trace
from .traced import Traced

__all__ = ["FRONTENDS", "PointInfo", "Traced", "module_ports", "node_values", "resolve_glob_pair",
           "resolve_point", "stream_points", "trace"]
