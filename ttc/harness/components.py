"""Components from the config, and the checks a composition must pass before any work: `build` (Hydra's
`_target_` with one-line errors naming the group), the verifier a strategy reads, and whether the task's problems
fit the generator's context and the strategy. Shared by the run loop, `ttc serve`, `ttc grade` and
`ttc processbench`.
"""

from __future__ import annotations

from typing import Any, Sequence

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Carded, ChoiceScorer, Encoding, Generator, Strategy, Verifier, VerifierUse
from ttc.contracts.records import Problem


def build(node: Any, group: str, **given: Any) -> Any:
    """Instantiate a component (with runtime objects `given` as extra arguments); errors in its arguments
    become one-line ConfigErrors naming the group."""
    try:
        return instantiate(node, **given)
    except InstantiationException as err:
        cause = err.__cause__ or err
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(f"{group}: {cause}") from None


def build_verifier(cfg: DictConfig, generator: Generator, strategy: Strategy | None = None) -> Verifier | None:
    """The run's verifier, built only when the strategy reads it (VerifierUse); one whose config leaves `judge`
    unset (null) judges with the run's own generator, passed at construction."""
    node = cfg.get("verifier")
    if not node or "_target_" not in node or (isinstance(strategy, VerifierUse) and not strategy.reads_verifier()):
        return None
    if "judge" in node and node.judge is None:
        return build(node, "verifier", judge=generator)
    return build(node, "verifier")


def check_context(generator: Generator, problems: Sequence[Problem], task: str) -> None:
    """The longest prompt must leave room to generate in the model's context; else one line, before any work."""
    if not (isinstance(generator, Encoding) and isinstance(generator, Carded)):
        return
    sizes = [(len(generator.encode(p.prompt)), p.id) for p in problems]
    longest, pid = max(sizes)
    if longest + 1 > generator.card.context:
        over = sum(1 for n, _ in sizes if n + 1 > generator.card.context)
        raise ConfigError(f"task={task}: the longest prompt ({pid}) is {longest} tokens and {over} of {len(sizes)} "
                          f"prompts do not fit the context of {generator.card.context} of {generator.name}; use "
                          f"a zero-shot chat prompt (task.mode=chat where the task has one) or a longer-context model")


def check_fit(strategy: Strategy, problems: Sequence[Problem]) -> None:
    """A strategy the task's problems cannot use stops here, before any model loads."""
    listed = all(p.metadata.get("choices") for p in problems)
    scorer = isinstance(strategy, ChoiceScorer) and strategy.scores_choices()
    if scorer and not listed:
        raise ConfigError(f"strategy={strategy.name} scores the choices a problem lists, and this task's problems "
                          f"list none (MNLI: task.mode=score); use a generating strategy")
    if listed and not scorer:
        raise ConfigError(f"task.mode=score lists label choices for strategy=label_scoring; strategy={strategy.name} "
                          f"generates, so use task.mode=generate (or strategy=label_scoring)")
