"""Exceptions with messages that name the file, the field and the fix."""


class NotApplicable(Exception):  # noqa: N818 - the name is the contract's vocabulary
    """A model or metric cannot handle this input; the run goes on and reports 'n/a'."""


class ConfigError(ValueError):
    """A config, catalog or model.yaml is invalid."""


class ContractError(ValueError):
    """A dataset or embedding breaks its contract."""
