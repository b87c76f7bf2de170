"""cnnnative.ir: the one op graph (OpGraph) shared by nn.Graph, compile and the GPU runner.

- graph.py   : OpGraph, Node, Value (nodes = op name, arguments by name, epilogue)
- shapes.py  : shape inference, one rule per op (others evaluated once at batch 1)
- execute.py : running a graph by calling the ops (autograd differentiates the run)
- trace.py   : building a graph by running a Module's forward on a recording Tensor
- fuse.py    : the compiler's rewrites (BatchNorm folding, residual / activation fusion)
"""
from .execute import call_op, run, run_node
from .graph import Node, OpGraph, ShapeError, Value
from .trace import TraceError, trace

__all__ = ["OpGraph", "Node", "Value", "ShapeError", "TraceError", "call_op", "run", "run_node", "trace"]
