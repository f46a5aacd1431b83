"""The import layers of the package: each module imports only from its own layer or below.

From the top (what users run) to the bottom (what everything shares):

1. ``cli`` (and ``__main__``): typer commands, thin.
2. ``search``: best-of-N, votes, greedy, step-level beam search (SBS), MCTS.
3. ``scoring``: scorers that load a saved verifier or value model.
4. ``training``, ``eval``: the trainers; metrics, calibration, label comparison.
5. ``generation``, ``labeling``: sampling solutions; step and outcome labels.
6. ``backends``: policies (hf, vllm, openai) and the code-runner wrapper
   (``backends/code_runner.py``).
7. ``models``, ``prefix_cache``: model cards, tiny test models, the verifier model and how
   one verifier example is tokenised (``models/verifier.py``, ``models/verifier_examples.py``,
   shared by training and scoring), the KV cache kept across calls and built into batches
   (``models/kv_prefix.py``, with its slab layer ``models/kv_slab.py``, shared by the hf
   backend and the scorers), the adapter for transformers internals (``models/compat.py``);
   the KV prefix cache's store.
8. ``data``, ``grading``, ``sandbox``, ``records``, ``stages``, ``code_steps``,
   ``prompting``, ``step_scores``: datasets, answer checking, the sandbox, JSONL records,
   the resumable chunk loop every stage that writes records runs (``stages.py``), the
   code-step format (``code_steps.py``), prompt formats, the ``Scorer`` protocol and the
   aggregation of step scores.
9. ``steps``, ``errors``, ``iterutils``, ``paths``, ``provenance``, ``progress``, ``layers``:
   step splitting, errors, small helpers, the settings every record carries
   (``provenance.py``, read by ``records``), the progress events long loops report
   (``progress.py``, drawn by the CLI), this table.

``scoring`` and ``training`` are independent as well: neither imports the other (what both
need, the verifier model and its tokenisation, is in ``models``). ``tests/test_layers.py``
walks every import of the package, function-level ones included, against this table, and
fails on any cycle of imports between two modules, inside one unit too (issue #37).
"""

from __future__ import annotations

# Top first. A unit is a subpackage or a module directly under mathverify/.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("search",),
    ("scoring",),
    ("training", "eval"),
    ("generation", "labeling"),
    ("backends",),
    ("models", "prefix_cache"),
    ("data", "grading", "sandbox", "records", "stages", "code_steps", "prompting", "step_scores"),
    ("steps", "errors", "iterutils", "paths", "provenance", "progress", "layers"),
)

# (importer, imported) pairs that are forbidden although the layers would allow them.
INDEPENDENT: tuple[tuple[str, str], ...] = (("scoring", "training"),)
