"""Worker for the multi-device tests (run as a script, never collected by pytest).

  python tests/dist_worker.py RUN_DIR OUT_JSON [--process-id I --num-processes N --port P]
      [--set section.field=value ...]

Trains the tiny preset (with overrides) into RUN_DIR through `icl_ood.train.train` on every
device this process sees (set XLA_FLAGS=--xla_force_host_platform_device_count=K before it
starts), optionally as process I of N coordinated by `jax.distributed` on localhost:P. Process 0
writes OUT_JSON: the training summary, device counts, and facts about the compiled step
(collectives, whether any full-batch array exists on a device).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("out_json")
    p.add_argument("--process-id", type=int)
    p.add_argument("--num-processes", type=int)
    p.add_argument("--port", type=int)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--no-hlo", action="store_true", help="skip the compiled-program facts")
    args = p.parse_args()

    import jax
    # The facts below recompile the training chunk: let that load train()'s compiled program.
    jax.config.update("jax_compilation_cache_dir", os.path.join(args.run_dir, "..", "xla_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if args.num_processes:
        # jax 0.10 uses gloo for CPU collectives across processes by default; set it anyway.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"localhost:{args.port}",
                                   num_processes=args.num_processes,
                                   process_id=args.process_id,
                                   initialization_timeout=60)
    from icl_ood import presets
    from icl_ood.train import train

    cfg = presets.get("tiny").override(args.set)
    summary = train(cfg, args.run_dir, progress=False)
    facts = {"summary": summary, "process_count": jax.process_count(),
             "device_count": jax.device_count(), "local_device_count": jax.local_device_count()}
    if not args.no_hlo:
        facts.update(_hlo_facts(cfg))
    if jax.process_index() == 0:
        with open(args.out_json, "w") as fh:
            json.dump(facts, fh)
    if args.num_processes:
        jax.distributed.shutdown()
    return 0


def _hlo_facts(cfg) -> dict:
    import jax
    import jax.numpy as jnp

    from icl_ood.train import batch_sharding_for, group_config, init_runs, make_mesh, train_chunk

    # The compiled step: is the batch drawn already sharded (no device ever holds all of it)?
    mesh = make_mesh()
    sharding = batch_sharding_for(cfg, mesh)
    g_cfg = group_config([cfg])
    graphdef, state, data_keys = init_runs(g_cfg, [cfg.train.seed], mesh)
    weights = jnp.asarray([cfg.data.weights], jnp.float32)
    t0 = time.perf_counter()
    hlo = train_chunk.lower(state, jnp.asarray(0, jnp.int32), data_keys, weights,
                            graphdef=graphdef, cfg=g_cfg, n_steps=cfg.train.steps_per_dispatch,
                            batch_sharding=sharding).compile().as_text()
    b, n, d = cfg.train.batch_size, cfg.data.n_points, cfg.data.dim
    local_b = b // jax.device_count()
    return {
        "hlo_compile_s": time.perf_counter() - t0,
        "batch_spec": None if sharding is None else str(sharding.spec),
        # xs of one run is (1, B, N, D) inside the vmapped program
        "full_batch_xs": len(re.findall(rf"\[1,{b},{n},{d}\]", hlo)),
        "shard_xs": len(re.findall(rf"\[1,{local_b},{n},{d}\]", hlo)),
        "all_gather": len(re.findall(r"all-gather", hlo)),
        "all_reduce": len(re.findall(r"all-reduce", hlo)),
    }


if __name__ == "__main__":
    sys.exit(main())
