"""The one line that says an optional extra is missing. It imports nothing from sweeplab, so
any module (backend, executors, export, serve) can use it without a circle."""


def missing_extra(what: str, package: str, extra: str, also: str = "") -> str:
    """``what`` needs ``package``, which is not installed: how to install the extra.

    >>> missing_extra("--ray", "Ray", "ray")
    "--ray needs Ray, which is not installed: pip install 'sweeplab[ray]'"
    """
    return f"{what} needs {package}, which is not installed: pip install 'sweeplab[{extra}]'{also}"
