"""Command line: a thin typer layer over the library (the pipeline package)."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from .. import __version__
from ..errors import InputError, VerificationError
from .exits import (EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_VERIFY, error_payload, exit_with_error, usage_error,
                    wants_json)


app = typer.Typer(add_completion=True, no_args_is_help=True,
                  help="Turn docker-compose deployments of OPEA GenAIExamples into Helm charts and manifests.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"compose2helm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """compose2helm."""


def _chart_version(version: Optional[str]) -> dict:
    return {"chart_version": version} if version else {}


def _fail(message: str) -> None:
    """A usage error found by a command: one line (and JSON with --format json), exit 2."""
    raise InputError(message)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        allowed = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
        _fail(f"{option} must be {allowed}, not {value!r}")


def _check_format(output_format: str) -> None:
    _check_choice("--format", output_format, ("text", "json"))


def _finish(output_format: str, as_json: Callable[[], Any], show: Callable[[], None], ok: bool) -> None:
    """Print a command's report as JSON or for people; exit 1 when it failed."""
    if output_format == "json":
        typer.echo(json.dumps(as_json(), indent=2))
    else:
        show()
    if not ok:
        raise typer.Exit(EXIT_VERIFY)


# Options several commands share (typer reads their settings; one definition keeps them alike).
MAPPINGS_OPTION = typer.Option([], "--mappings", help="Extra mapping-rule directory (repeatable).")
EXTRA_FILES_OPTION = typer.Option([], "-f", "--file", help="More compose files merged on top (repeatable).")
ENV_FILE_OPTION = typer.Option([], "--env-file", help="Env file(s) or set_env.sh read as data (default: found "
                               "beside the file, as convert does).")
EXAMPLE_OPTION = typer.Option(None, "--example", help="Example name (default: from the path, else the compose "
                              "project's name or folder).")
PLATFORM_OPTION = typer.Option(None, "--platform", help="Platform, e.g. gaudi (default: from the path).")
VARIANT_OPTION = typer.Option(None, "--variant", help="Variant, e.g. tgi (default: from the file name).")
KUBE_VERSION_OPTION = typer.Option(None, "--kube-version", help="Kubernetes version to validate against "
                                   "(default: the newest known).")
STRICT_OPTION = typer.Option(False, "--strict", help="Unknown compose keys are errors, not warnings.")
FORMAT_OPTION = typer.Option("text", "--format", help="text or json.")
WAIT_OPTION = typer.Option(False, "--wait-for-dependencies", help="depends_on with service_healthy: an init "
                           "container waits for each dependency.")
ALLOW_OPTION = typer.Option([], "--allow", help="Carry a privilege compose grants, which is dropped otherwise "
                            "(repeatable): privileged, host-ipc, host-network, host-devices, unconfined.")
FORCE_OPTION = typer.Option(False, "--force", help="Overwrite generated files that were edited by hand (or files "
                            "compose2helm did not write).")


@app.command()
def convert(
    files: List[Path] = typer.Argument(..., help="Compose file(s); later files patch earlier ones, as -f does."),
    extra: List[Path] = EXTRA_FILES_OPTION,
    out: Path = typer.Option(Path("."), "--out", "-o", help="Output root: helm-charts/ and manifests/ go here."),
    env_file: List[Path] = typer.Option([], "--env-file", help="Env file(s) or set_env.sh read as data "
                                        "(default: set_env*.env/.sh beside the file or up to two levels up)."),
    example: Optional[str] = EXAMPLE_OPTION,
    platform: Optional[str] = PLATFORM_OPTION,
    variant: Optional[str] = VARIANT_OPTION,
    release: Optional[str] = typer.Option(None, help="Release name to render with (default: the chart name)."),
    mappings: List[Path] = MAPPINGS_OPTION,
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip verifying the rendered manifests."),
    kube_version: Optional[str] = KUBE_VERSION_OPTION,
    chart_version: str = typer.Option(None, "--chart-version", help="Version of the generated charts "
                                      "(default: the tool's; GenAIInfra's main uses 0-latest, not SemVer)."),
    layout: str = typer.Option("flat", "--layout", help="flat: every component at the top of the umbrella; "
                               "nested: the RFC's layout, engines under their microservice "
                               "(llm-uservice.tgi.LLM_MODEL_ID)."),
    gmc: bool = typer.Option(False, "--gmc", help="Also write GMC output: a GMConnector and GMC-style "
                             "component manifests under manifests/<Example>/<platform>/gmc/."),
    gmc_crd: Optional[Path] = typer.Option(None, "--gmc-crd", help="Validate the GMConnector against this CRD."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Do everything but write: list the files that would "
                                 "change."),
    strict: bool = STRICT_OPTION,
    wait_for_dependencies: bool = WAIT_OPTION,
    allow: List[str] = ALLOW_OPTION,
    force: bool = FORCE_OPTION,
    output_format: str = FORMAT_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print the verdict line only (and errors)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list every finding and every explained "
                                 "difference."),
) -> None:
    """Convert a compose file into common charts, an umbrella chart overlay and rendered manifests."""
    _check_format(output_format)
    _check_choice("--layout", layout, ("flat", "nested"))
    from ..pipeline.convert import convert as run
    from .report import convert_json, level_of, print_convert

    result = run(list(files) + list(extra), out, env_files=list(env_file) or None, example=example,
                 platform=platform, variant=variant, release=release, mappings=list(mappings),
                 verify=not no_verify, kube_version=kube_version, gmc=gmc or gmc_crd is not None, gmc_crd=gmc_crd,
                 layout=layout, dry_run=dry_run, strict=strict, force=force, allow=list(allow),
                 wait_for_dependencies=wait_for_dependencies,
                 **_chart_version(chart_version))
    _finish(output_format, lambda: convert_json(result),
            lambda: print_convert(result, level_of(quiet, verbose)), result.ok)


@app.command()
def verify(
    files: List[Path] = typer.Argument(..., help="Compose file(s) the manifests were converted from."),
    extra: List[Path] = EXTRA_FILES_OPTION,
    manifests: Optional[Path] = typer.Option(None, "--manifests", help="Manifest file or directory "
                                             "(default: manifests/<Example>/<platform>[-<variant>]/ under --out)."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Output root the charts and manifests are in."),
    env_file: List[Path] = typer.Option([], "--env-file", help="Env file(s) the conversion used."),
    example: Optional[str] = EXAMPLE_OPTION,
    platform: Optional[str] = typer.Option(None, help="Platform (default: from the path)."),
    variant: Optional[str] = typer.Option(None, help="Variant (default: from the file name)."),
    release: Optional[str] = typer.Option(None, help="Release name the manifests were rendered with."),
    mappings: List[Path] = MAPPINGS_OPTION,
    kube_version: Optional[str] = KUBE_VERSION_OPTION,
    no_lint: bool = typer.Option(False, "--no-lint", help="Do not lint the charts."),
    strict: bool = STRICT_OPTION,
    wait_for_dependencies: bool = WAIT_OPTION,
    allow: List[str] = ALLOW_OPTION,
    output_format: str = FORMAT_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print the verdict line only (and errors)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list every explained difference."),
) -> None:
    """Prove the rendered manifests mean what the compose file means; lint and validate them."""
    _check_format(output_format)
    from ..pipeline.verify import verify as run
    from .report import level_of, print_verify

    report = run(list(files) + list(extra), manifests=manifests, out=out, env_files=list(env_file) or None,
                 example=example, platform=platform, variant=variant, release=release, mappings=list(mappings),
                 kube_version=kube_version, lint=not no_lint, strict=strict, allow=list(allow),
                 wait_for_dependencies=wait_for_dependencies)
    _finish(output_format, report.as_dict, lambda: print_verify(report, level_of(quiet, verbose)), report.ok)


@app.command()
def migrate(
    root: Path = typer.Argument(..., help="A GenAIExamples tree (or any tree of <Example>/docker*/ folders)."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Output root: helm-charts/ and manifests/ go here."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Examples converted in parallel."),
    mappings: List[Path] = MAPPINGS_OPTION,
    kube_version: Optional[str] = KUBE_VERSION_OPTION,
    chart_version: str = typer.Option(None, "--chart-version", help="Version of the generated charts."),
    into_examples: bool = typer.Option(False, "--into-examples", help="Also write each example's rendered "
                                       "manifests and GMConnector into the tree, where GenAIExamples keeps them "
                                       "(<Ex>/kubernetes/)."),
    layout: str = typer.Option("flat", "--layout", help="flat or nested (the RFC's layout)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Convert as the real run would but write nothing: list "
                                 "the files that would change under --out, reject the files the real run would "
                                 "(hand-edited output), exit as it would."),
    strict: bool = STRICT_OPTION,
    wait_for_dependencies: bool = WAIT_OPTION,
    allow: List[str] = ALLOW_OPTION,
    force: bool = FORCE_OPTION,
    output_format: str = FORMAT_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print the summary line only (and errors)."),
) -> None:
    """Convert every compose file of a tree: one umbrella chart per example, shared common charts."""
    _check_format(output_format)
    _check_choice("--layout", layout, ("flat", "nested"))
    from ..pipeline.migrate import migrate as run
    from .migrate_report import MigrateProgress, print_migrate
    from .report import level_of

    with MigrateProgress(enabled=output_format == "text" and not quiet) as progress:
        report = run(root, out, jobs=jobs, progress=progress, mappings=list(mappings), kube_version=kube_version,
                     into_examples=into_examples, layout=layout, dry_run=dry_run, strict=strict,
                     force=force, allow=list(allow), wait_for_dependencies=wait_for_dependencies,
                     **_chart_version(chart_version))
    _finish(output_format, report.as_dict, lambda: print_migrate(report, level_of(quiet, False)), report.ok)


@app.command()
def check(
    root: Path = typer.Option(Path("input-compose"), "--root", help="Tree of compose files the output comes from."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Where the committed helm-charts/ and manifests/ are."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Examples converted in parallel."),
    mappings: List[Path] = MAPPINGS_OPTION,
    chart_version: str = typer.Option(None, "--chart-version", help="Version the charts were generated with."),
    output_format: str = FORMAT_OPTION,
) -> None:
    """Fail when committed charts and manifests are not what the compose files give today."""
    _check_format(output_format)
    from ..pipeline.drift import check as run
    from .report import print_check

    report = run(root, out, jobs=jobs, mappings=list(mappings), **_chart_version(chart_version))
    _finish(output_format, report.as_dict, lambda: print_check(report), report.ok)


@app.command()
def template(
    release: str = typer.Argument(..., help="Release name."),
    chart: Path = typer.Argument(..., help="Chart directory."),
    set_values: List[str] = typer.Option([], "--set", help="key=value (repeatable), as helm --set."),
    set_strings: List[str] = typer.Option([], "--set-string", help="key=value kept as a string (repeatable)."),
    values: List[Path] = typer.Option([], "--values", "-f", help="Values file (repeatable)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Write DIR/<chart>/templates/... files "
                                              "instead of printing."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace of the release."),
    create_namespace: bool = typer.Option(False, "--create-namespace", help="Accepted as helm template does "
                                          "(it creates nothing when rendering)."),
    skip_tests: bool = typer.Option(False, "--skip-tests", help="Leave out `helm test` hooks."),
    helm_bin: Optional[str] = typer.Option(None, "--helm-bin", envvar="HELM_BIN",
                                           help="Run a helm binary instead of the embedded engine."),
) -> None:
    """Render a chart like `helm template` (embedded Helm engine; no helm binary needed)."""
    from ..helm.commands import TemplateOptions, render, run_helm_binary, template_text, write_output_dir

    opts = TemplateOptions(release, chart, list(values), list(set_values), list(set_strings), namespace,
                           skip_tests, output_dir)
    if helm_bin:
        proc = run_helm_binary(helm_bin, opts, create_namespace)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        raise typer.Exit(0 if proc.returncode == 0 else EXIT_INPUT)
    docs = render(opts)
    if output_dir is not None:
        for path in write_output_dir(docs, output_dir):
            typer.echo(f"wrote {path}")
    else:
        sys.stdout.write(template_text(docs))


dependency_app = typer.Typer(help="Manage a chart's dependencies, as helm dependency does.", no_args_is_help=True)
app.add_typer(dependency_app, name="dependency")


@dependency_app.command("update")
def dependency_update(chart: Path = typer.Argument(..., help="Chart directory.")) -> None:
    """Build the chart's charts/ folder and Chart.lock from its dependencies."""
    from ..helm.commands import dependency_update as run

    for name in run(chart):
        typer.echo(f"saved charts/{name}")


@app.command()
def explain(
    paths: List[Path] = typer.Argument(..., help="Compose file(s), merged as -f does, or directory trees: every "
                                       "compose file in them, found as migrate finds them."),
    extra: List[Path] = EXTRA_FILES_OPTION,
    env_file: List[Path] = ENV_FILE_OPTION,
    example: Optional[str] = EXAMPLE_OPTION,
    platform: Optional[str] = PLATFORM_OPTION,
    variant: Optional[str] = VARIANT_OPTION,
    mappings: List[Path] = MAPPINGS_OPTION,
    strict: bool = STRICT_OPTION,
    show_summary: bool = typer.Option(False, "--summary", help="Print only the counts: services per rule, "
                                      "generic fallbacks, dropped and changed keys by reason."),
    output_format: str = FORMAT_OPTION,
) -> None:
    """Per service, the rule that matched and, per compose key, whether it was carried, changed or dropped."""
    if output_format == "table":    # its name before the commands agreed on text
        output_format = "text"
    _check_format(output_format)
    from ..pipeline.explain import as_dict, explain_files, explain_tree
    from ..plan.rules import load_rules
    from .explain_report import print_explain

    files = [p for p in paths if not p.is_dir()]
    trees = [p for p in paths if p.is_dir()]
    per_file = {"-f": extra, "--env-file": env_file, "--example": example, "--platform": platform,
                "--variant": variant}
    given = [name for name, value in per_file.items() if value]
    if given and not files:
        _fail(f"{', '.join(given)} apply to compose files, not to directories")
    rules = load_rules(list(mappings))
    reports = []
    if files:
        # Bad input in files named on the command line stops here (exit 2), as convert does.
        reports.append(explain_files(files + list(extra), env_files=list(env_file) or None, example=example,
                                     platform=platform, variant=variant, rules=rules, strict=strict))
    for tree in trees:
        reports.extend(explain_tree(tree, rules=rules, strict=strict))
    _finish(output_format, lambda: as_dict(reports, summary_only=show_summary),
            lambda: print_explain(reports, show_summary=show_summary or len(reports) > 1, details=not show_summary),
            not any(r.status == "rejected" for r in reports))


@app.command()
def graph(
    files: List[Path] = typer.Argument(..., help="Compose file(s), merged as -f does."),
    extra: List[Path] = EXTRA_FILES_OPTION,
    env_file: List[Path] = ENV_FILE_OPTION,
    example: Optional[str] = EXAMPLE_OPTION,
    platform: Optional[str] = PLATFORM_OPTION,
    variant: Optional[str] = VARIANT_OPTION,
    mappings: List[Path] = MAPPINGS_OPTION,
    strict: bool = STRICT_OPTION,
    output_format: str = typer.Option("mermaid", "--format", help="mermaid, dot or json."),
) -> None:
    """Draw the example: one node per component, one arrow per call the conversion rewrote to a Service."""
    from ..pipeline.draw import draw

    typer.echo(draw(list(files) + list(extra), output_format, env_files=list(env_file) or None, example=example,
                    platform=platform, variant=variant, mappings=list(mappings), strict=strict), nl=False)


# Commands that render or lint: the Helm engine starts loading in a thread before their modules are
# imported, so that it is ready (or nearly) when the first chart is written.
_ENGINE_COMMANDS = frozenset({"convert", "verify", "check", "template"})


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = wants_json(args)
    if args and args[0] in _ENGINE_COMMANDS and not {"--help", "-h"} & set(args):
        from ..helm.engine import preload
        preload()
    try:
        if not args:   # no command: the help, on stderr, and the usage error's code
            with contextlib.redirect_stdout(sys.stderr):
                app(args=["--help"], prog_name="compose2helm", standalone_mode=False)
            sys.exit(EXIT_INPUT)
        code = app(args=args, prog_name="compose2helm", standalone_mode=False)   # Exit codes come back
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except InputError as exc:
        exit_with_error(str(exc), exc.as_dict(), EXIT_INPUT, as_json)
    except VerificationError as exc:
        exit_with_error(" ".join(str(exc).split()), error_payload(str(exc)), EXIT_VERIFY, as_json)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        exit_with_error("aborted", error_payload("aborted"), EXIT_INPUT, as_json)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, unless debugging
        usage = usage_error(exc)
        if usage is not None:
            if usage:
                exit_with_error(usage, error_payload(usage), EXIT_INPUT, as_json)
            sys.exit(EXIT_INPUT)    # a group named without its command: its help is printed
        if os.environ.get("COMPOSE2HELM_DEBUG"):
            raise
        message = f"internal error ({type(exc).__name__}): {' '.join(str(exc).split())}"
        exit_with_error(f"{message} (set COMPOSE2HELM_DEBUG=1 for details)", error_payload(message), EXIT_INTERNAL,
                        as_json)


def run() -> None:
    """The console entry point: main(), then an exit without the interpreter's final garbage
    collection, which walked every object of the run (a tenth of a single conversion's time);
    the memory goes back with the process."""
    try:
        main()
    finally:
        import gc
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    run()
