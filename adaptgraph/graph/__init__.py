"""Tracing a backbone into an fx graph, and the points (ports, stream, nodes) that specs name."""
from .capture import node_values
from .point_lookup import resolve_point
from .ports import PointInfo, module_ports
from .stream import stream_points
from .trace_cache import trace_backbone
from .tracing import FRONTENDS, frontend_names, trace
from .traced import Traced

__all__ = ["FRONTENDS", "PointInfo", "Traced", "frontend_names", "module_ports", "node_values", "resolve_point",
           "stream_points", "trace", "trace_backbone"]
