"""A compiled model trains under DistributedDataParallel (2 processes, gloo) like one process."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SPEC = "edge @1 -> @3 { init = normal }\nrecurrent @7 -> @2"
STEPS = 3


def make_model():
    import adaptgraph

    return adaptgraph.compile(adaptgraph.loads(SPEC), "zoo:vit-tiny")


def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 32, 32, generator=g)


def train(model, x, opt_params, ddp=None):
    opt = torch.optim.SGD(opt_params, lr=0.5)
    net = ddp or model
    for _ in range(STEPS):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.adapters.state_dict().items()}


def worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = make_model()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    x = batch().chunk(world)[rank]
    state = train(model, x, [p for p in model.parameters() if p.requires_grad], ddp)
    torch.save(state, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    mp.spawn(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    model = make_model()
    single = train(model, batch(), [p for p in model.parameters() if p.requires_grad])
    for k in single:
        assert torch.equal(r0[k], r1[k]), k  # ranks stay in sync
        torch.testing.assert_close(r0[k], single[k], rtol=1e-4, atol=1e-5)  # same as one process
