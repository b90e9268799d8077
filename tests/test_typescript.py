"""TypeScript and JavaScript: the import graph on its own (fast), then the real servers
(typescript: TypeScript 7's ``tsc --lsp``; biome) end to end on fixtures/web, compared with
their CLIs, beside Python in one repository."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from lspfeedback import Verifier, _cold, _npm
from lspfeedback._session import ServerSession
from lspfeedback._tsimports import TsImportGraph, read_jsonc, specifiers_of

from .conftest import FIXTURES, TIMEOUT, pid_alive

CREATED, CHANGED, DELETED = (types.FileChangeType.Created, types.FileChangeType.Changed,
                             types.FileChangeType.Deleted)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _deps(root: Path, changed: str, limit: int = 100) -> tuple[list[str], int]:
    return asyncio.run(TsImportGraph(root).dependents([changed], limit))


# ---- the import graph ------------------------------------------------------------------------

def test_every_kind_of_module_specifier_is_read() -> None:
    text = """import a, { b } from "./a"; import "./side"; import type { T } from '@lib/t';
export * from "./re"; export { x } from "./rx"; import q = require("./req");
const m = require("./cjs"); const d = import("./dyn"); type Z = import("./typed").Z;
const s = `./template`; foo("./call"); const r = require(name);
"""
    assert specifiers_of("x.ts", text) == (
        "./a", "./side", "@lib/t", "./re", "./rx", "./req", "./cjs", "./dyn", "./typed")
    jsx = 'import { h } from "./h";\nexport const v = <div>{h("./not")}</div>;\n'
    assert specifiers_of("x.jsx", jsx) == ("./h",)


def test_relative_imports_resolve_with_the_compilers_extension_rules(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "a.ts": "export const a = 1;\n",
        "b.tsx": "export const b = 1;\n",
        "c/index.ts": "export const c = 1;\n",
        "d.d.ts": "export declare const d: number;\n",
        "e.ts": "export const e = 1;\n",
        "pkg/package.json": '{"types": "lib/main.d.ts"}',
        "pkg/lib/main.d.ts": "export declare const p: number;\n",
        "legacy.js": "module.exports = 1;\n",
        "use.ts": 'import "./a"; import "./b"; import "./c"; import "./d"; import "./e.js";\n'
                  'import "./pkg"; import "./legacy"; import "./missing"; import "react";\n',
        "sub/deep.mjs": 'import "../a.ts";\nimport "../use";\n',
    })
    graph = TsImportGraph(root)
    asyncio.run(graph.load())
    assert graph.imports_of("use.ts") == ["a.ts", "b.tsx", "c/index.ts", "d.d.ts", "e.ts",
                                          "pkg/lib/main.d.ts", "legacy.js"]
    assert graph.imports_of("sub/deep.mjs") == ["a.ts", "use.ts"]


def test_paths_and_base_url_come_from_the_nearest_tsconfig_and_its_extends(
        tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        # JSON with comments and trailing commas, as tsconfig.json allows.
        "tsconfig.base.json": """{
  // shared
  "compilerOptions": {
    "baseUrl": "./src",
    "paths": { "@app/*": ["app/*", "fallback/*"], "@cfg": ["config/index.ts"], },
  },
}""",
        "tsconfig.json": '{"extends": "./tsconfig.base.json"}',
        "src/app/one.ts": "export const one = 1;\n",
        "src/fallback/two.ts": "export const two = 2;\n",
        "src/config/index.ts": "export const cfg = 1;\n",
        "src/util/strings.ts": "export const s = '';\n",
        "src/main.ts": 'import "@app/one"; import "@app/two"; import "@cfg"; import "util/strings";\n',
        # A package of its own: its paths are relative to its tsconfig (no baseUrl), and
        # the longest matching prefix wins.
        "packages/web/tsconfig.json": '{"compilerOptions": {"paths": {"~/*": ["./lib/*"], '
                                      '"~/deep/*": ["./other/*"]}}}',
        "packages/web/lib/x.ts": "export const x = 1;\n",
        "packages/web/other/y.ts": "export const y = 1;\n",
        "packages/web/index.ts": 'import "~/x"; import "~/deep/y"; import "@app/one";\n',
    })
    graph = TsImportGraph(root)
    asyncio.run(graph.load())
    assert graph.imports_of("src/main.ts") == [
        "src/app/one.ts", "src/fallback/two.ts", "src/config/index.ts", "src/util/strings.ts"]
    # The nearest tsconfig has no @app alias: that import is a package's.
    assert graph.imports_of("packages/web/index.ts") == [
        "packages/web/lib/x.ts", "packages/web/other/y.ts"]
    assert read_jsonc('{"a": "// not a comment", /* c */ "b": [1,],}') == {
        "a": "// not a comment", "b": [1]}


def test_workspace_packages_subpath_imports_and_references(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        # A monorepo: packages import each other by name, through "exports" or the entry.
        "packages/core/package.json": json.dumps({
            "name": "@acme/core", "exports": {".": {"types": "./src/index.ts"},
                                              "./util/*": "./src/util/*.ts"}}),
        "packages/core/src/index.ts": "export const core = 1;\n",
        "packages/core/src/util/text.ts": "export const text = 1;\n",
        "packages/plain/package.json": json.dumps({"name": "plain", "types": "lib/main.ts"}),
        "packages/plain/lib/main.ts": "export const plain = 1;\n",
        "packages/plain/lib/extra.ts": "export const extra = 1;\n",
        # Node's subpath imports (#…) of the nearest package.json.
        "packages/app/package.json": json.dumps({
            "name": "app", "imports": {"#config": "./src/config.ts",
                                       "#lib/*": {"types": "./src/lib/*.ts"}}}),
        "packages/app/src/config.ts": "export const config = 1;\n",
        "packages/app/src/lib/db.ts": "export const db = 1;\n",
        "packages/app/src/globals.d.ts": "declare const G: number;\n",
        "packages/app/src/main.ts": (
            '/// <reference path="globals.d.ts" />\n'
            'import "@acme/core"; import "@acme/core/util/text"; import "plain";\n'
            'import "plain/lib/extra"; import "#config"; import "#lib/db"; import "react";\n'),
    })
    graph = TsImportGraph(root)
    asyncio.run(graph.load())
    assert graph.imports_of("packages/app/src/main.ts") == [
        "packages/core/src/index.ts", "packages/core/src/util/text.ts",
        "packages/plain/lib/main.ts", "packages/plain/lib/extra.ts",
        "packages/app/src/config.ts", "packages/app/src/lib/db.ts",
        "packages/app/src/globals.d.ts"]


def test_one_language_for_typescript_and_javascript_files() -> None:
    from lspfeedback import languages

    ids = {rel: languages.of_path(rel) for rel in ("a.ts", "a.d.ts", "a.tsx", "a.mts", "a.cjs",
                                                   "a.js", "a.jsx", "a.py", "tsconfig.json")}
    assert {rel: lang.name if lang else None for rel, lang in ids.items()} == {
        "a.ts": "typescript", "a.d.ts": "typescript", "a.tsx": "typescript",
        "a.mts": "typescript", "a.cjs": "typescript", "a.js": "typescript",
        "a.jsx": "typescript", "a.py": "python", "tsconfig.json": None}
    language = languages.get("typescript")
    assert [language.language_id(r) for r in ("a.ts", "a.tsx", "a.js", "a.jsx")] == [
        "typescript", "typescriptreact", "javascript", "javascriptreact"]
    assert "tsconfig.json" in language.config_files


def test_fixture_importers_through_the_alias_nearest_first() -> None:
    found, omitted = _deps(FIXTURES / "web", "src/lib/money.ts")
    # cart.ts and checkout.ts import it as "@lib/money"; report.js imports checkout.
    assert found == ["src/cart.ts", "src/checkout.ts", "src/index.ts", "src/lib/discount.ts",
                     "src/view.tsx", "src/report.js"]
    assert omitted == 0


def test_the_bound_cuts_the_farthest_and_counts_them(tmp_path: Path) -> None:
    files = {"m0.ts": "export const v = 0;\n"}
    for i in range(1, 6):
        files[f"m{i}.ts"] = f'import {{ v }} from "./m{i - 1}";\nexport const w{i} = v;\n'
    root = _tree(tmp_path, files)
    assert _deps(root, "m0.ts", limit=2) == (["m1.ts", "m2.ts"], 3)
    assert _deps(root, "m0.ts", limit=100) == (["m1.ts", "m2.ts", "m3.ts", "m4.ts", "m5.ts"], 0)


def test_the_graph_follows_changes_incrementally(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a.ts": "export const a = 1;\n",
                            "b.ts": 'import { a } from "./a";\nexport const b = a;\n',
                            "c.ts": "export const c = 1;\n"})
    graph = TsImportGraph(root)
    assert asyncio.run(graph.dependents(["a.ts"], 10)) == (["b.ts"], 0)
    # c.ts starts importing a: one file parsed again, no full read.
    (root / "c.ts").write_text('import { a } from "./a";\nexport const c = a;\n')
    graph.note([("c.ts", CHANGED)])
    assert asyncio.run(graph.dependents(["a.ts"], 10)) == (["b.ts", "c.ts"], 0)
    assert (graph.full_reads, graph.partial_reads) == (1, 1)
    # A module created later: who names it is an importer, before and after the re-read.
    (root / "d.ts").write_text('import { n } from "./fresh";\nexport const d = n;\n')
    graph.note([("d.ts", CREATED)])
    asyncio.run(graph.load())
    (root / "fresh.ts").write_text("export const n = 1;\n")
    graph.note([("fresh.ts", CREATED)])
    assert asyncio.run(graph.importers_of_new(["fresh.ts"])) == ["d.ts"]
    assert asyncio.run(graph.dependents(["fresh.ts"], 10)) == (["d.ts"], 0)
    # A deleted module's importers are gone from the graph; a tsconfig change re-reads it.
    (root / "b.ts").unlink()
    graph.note([("b.ts", DELETED)])
    assert asyncio.run(graph.dependents(["a.ts"], 10)) == (["c.ts"], 0)
    reads = graph.full_reads
    (root / "tsconfig.json").write_text('{"compilerOptions": {"baseUrl": "."}}')
    graph.note([("tsconfig.json", CREATED)])
    asyncio.run(graph.load())
    assert graph.full_reads == reads + 1 and graph.error is None


def test_a_fifo_is_never_opened_and_a_deadline_is_an_error(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a.ts": "export const a = 1;\n",
                            "b.ts": 'import "./a";\nimport "./pipe";\n'})
    os.mkfifo(root / "pipe.ts")
    graph = TsImportGraph(root, timeout=10)
    assert asyncio.run(graph.dependents(["a.ts"], 10)) == (["b.ts"], 0)
    assert graph.imports_of("b.ts") == ["a.ts"]  # the FIFO is no module: never opened
    late = TsImportGraph(root, timeout=0)
    assert asyncio.run(late.dependents(["a.ts"], 10)) == ([], 0)
    assert late.error is not None and "not read within" in late.error


# ---- the servers, end to end -------------------------------------------------------------------

MONEY = "src/lib/money.ts"
CART = "src/cart.ts"
CHECKOUT = "src/checkout.ts"
SIGNATURE = ("currency: string): string", "currency: string, digits: number): string")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ts") / "web"
    shutil.copytree(FIXTURES / "web", root)
    return root


@pytest.fixture(scope="module")
def shared(web: Path) -> Iterator[Verifier]:
    """One warm verifier for the module (each test takes its overlays back)."""
    with Verifier(web, servers=["typescript", "biome"], timeout=TIMEOUT, replicas=1) as v:
        yield v


@pytest.fixture
def v(shared: Verifier) -> Iterator[Verifier]:
    shared.discard()
    shared.verify([MONEY, CART, CHECKOUT])  # the disk state is the baseline
    yield shared
    shared.discard()


def _text(root: Path, rel: str) -> str:
    return (root / rel).read_text()


def _where(diagnostics: object) -> list[tuple[str, int, str, str | None]]:
    return sorted((d.path, d.line, d.source, d.code) for d in diagnostics)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_type_error_in_the_edited_file(v: Verifier, web: Path) -> None:
    text = _text(web, MONEY).replace("return Math.round(cents * (1 + rate));",
                                     'return String(cents * (1 + rate));')
    report = v.verify({MONEY: text})
    assert report.status == "errors" and not report.ok and report.complete
    assert _where(report.introduced) == [(MONEY, 11, "typescript", "2322")]
    assert "not assignable to type 'number'" in report.introduced[0].message


@pytest.mark.slow
def test_a_caller_broken_in_an_unedited_importer_through_the_alias(v: Verifier,
                                                                   web: Path) -> None:
    report = v.verify({MONEY: _text(web, MONEY).replace(*SIGNATURE)})
    # cart.ts and checkout.ts import "@lib/money" (tsconfig paths): both callers break.
    assert [(d.path, d.code) for d in report.introduced if d.source == "typescript"] == [
        (CART, "2554"), (CHECKOUT, "2554")]
    assert {CART, CHECKOUT, "src/report.js", "src/index.ts"} <= set(report.checked_files)
    assert report.changed_files == (MONEY,) and report.complete


@pytest.mark.slow
def test_a_lint_finding_from_biome(v: Verifier, web: Path) -> None:
    text = _text(web, CART).replace("this.lines.push(line);",
                                    "if (line.quantity == 0) { debugger; }\n    this.lines.push(line);")
    report = v.verify({CART: text})
    assert sorted(str(d.code) for d in report.introduced if d.source == "biome") == [
        "lint/suspicious/noDebugger", "lint/suspicious/noDoubleEquals"]
    assert {d.source for d in report.introduced} == {"biome"}  # the types are fine


@pytest.mark.slow
def test_a_syntax_error_then_its_fix_resolves_it(v: Verifier, web: Path) -> None:
    good = _text(web, CHECKOUT)
    broken = v.verify({CHECKOUT: good.replace("for (const sku of skus) {", "for (const sku of skus {")})
    assert broken.status == "errors"
    assert {d.source for d in broken.introduced} == {"typescript", "biome"}
    assert all(d.path == CHECKOUT for d in broken.introduced)
    fixed = v.verify({CHECKOUT: good})
    assert fixed.status == "clean" and fixed.ok and fixed.introduced == ()
    assert _where(fixed.resolved) == _where(broken.introduced)


@pytest.mark.slow
def test_a_line_shift_introduces_nothing(v: Verifier, web: Path) -> None:
    broken = _text(web, CART).replace("return priceWithTax(sum, discount);",
                                      "return priceWithTax(sum, discount, 3);")
    first = v.verify({CART: broken})
    assert _where(first.introduced) == [(CART, 19, "typescript", "2554")]
    shifted = v.verify({CART: "// a comment\n\n" + broken})
    assert shifted.introduced == () and shifted.resolved == ()
    assert _where(shifted.diagnostics) == [(CART, 21, "typescript", "2554")]


@pytest.mark.slow
def test_a_new_module_as_an_overlay_imported_through_the_alias(v: Verifier, web: Path) -> None:
    shipping = "src/lib/shipping.ts"
    uses = _text(web, CHECKOUT).replace(
        'import { formatPrice } from "@lib/money";',
        'import { formatPrice } from "@lib/money";\nimport { shippingFor } from "@lib/shipping";'
    ).replace("return `total", 'const fee: string = shippingFor(total);\n  return `total ${fee}')
    report = v.verify({shipping: "export function shippingFor(cents: number): number {\n"
                                 "  return cents > 5000 ? 0 : 490;\n}\n",
                       CHECKOUT: uses})
    # The new module resolves (no "cannot find module") and its type is checked at the call.
    assert [(d.path, d.code) for d in report.introduced] == [(CHECKOUT, "2322")], report
    assert not (web / shipping).exists()  # overlays are never written to the workspace
    # The new module changed alone: its importer (known only through the overlay) is checked.
    again = v.verify({shipping: "export function shippingFor(cents: number): string {\n"
                                "  return String(cents);\n}\n"})
    assert CHECKOUT in again.checked_files
    assert [(d.path, d.code) for d in again.resolved] == [(CHECKOUT, "2322")]


def _materialize(web: Path, overlays: dict[str, str], into: Path) -> Path:
    shutil.copytree(web, into)
    for rel, text in overlays.items():
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        (into / rel).write_text(text)
    return into


@pytest.mark.slow
def test_warm_equals_cold(v: Verifier, web: Path, tmp_path: Path) -> None:
    overlays = {
        MONEY: _text(web, MONEY).replace(*SIGNATURE) + "\nexport const é = \"ünï\" == 'x';\n",
        CART: _text(web, CART).replace("add(line: Line): void {",
                                       "add(line: Line): void {\n    let unused = 1;"),
        "src/report.js": _text(web, "src/report.js").replace(".toUpperCase()", ".nope()"),
        "src/view.tsx": _text(web, "src/view.tsx").replace('title="total"', "title={1}"),
    }
    report = v.verify(overlays)
    assert report.status == "errors" and report.complete
    # A .ts, a .js (checkJs) and a .tsx file each have their own finding.
    assert {"src/report.js", "src/view.tsx", MONEY, CART} <= {d.path for d in report.diagnostics}
    cold_root = _materialize(web, overlays, tmp_path / "cold")
    files = list(report.checked_files)
    cold = _cold.cold_check(cold_root, files, ["typescript", "biome"])
    for source in ("typescript", "biome"):
        warm_rows = _cold.comparable(report.diagnostics, source)
        assert warm_rows, source  # something to compare: the test could fail
        assert warm_rows == _cold.comparable(cold[source].diagnostics, source), source


@pytest.mark.slow
def test_a_crash_mid_call_is_unknown_then_the_server_recovers(
        v: Verifier, web: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A state no earlier test checked (it would come from the cache, asking no server).
    broken = _text(web, MONEY).replace(*SIGNATURE) + "\n// before the crash\n"
    original = ServerSession.diagnostics
    killed: list[int] = []

    async def kill_first(self: ServerSession, rel: str, deadline):  # type: ignore[no-untyped-def]
        if self.name == "typescript" and not killed and self.client and self.client.pid:
            killed.append(self.client.pid)
            os.killpg(self.client.pid, signal.SIGKILL)
        return await original(self, rel, deadline)

    monkeypatch.setattr(ServerSession, "diagnostics", kill_first)
    during = v.verify({MONEY: broken})
    monkeypatch.undo()
    assert not pid_alive(killed[0])
    assert during.status == "unknown" and not during.ok and not during.complete
    assert [u.server for u in during.unknown] == ["typescript"]
    assert "exited" in during.unknown[0].reason
    assert v.wait_settled(TIMEOUT).servers[0].state == "running"
    after = v.verify({MONEY: broken + "\n// touched\n"})
    assert after.status == "errors" and after.unknown == ()
    # The restarted server was given the overlay again: both callers are broken.
    assert [(d.path, d.code) for d in after.diagnostics if d.source == "typescript"] == [
        (CART, "2554"), (CHECKOUT, "2554")]
    assert v.engine._primary.sessions["typescript"].restarts == 1


@pytest.mark.slow
def test_a_mixed_python_and_typescript_repository(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    shutil.copytree(FIXTURES / "shop", root)
    shutil.copytree(FIXTURES / "web", root / "web")
    # The TypeScript project at the root's level: its tsconfig and biome.json moved up.
    tsconfig = json.loads((root / "web" / "tsconfig.json").read_text())
    tsconfig["compilerOptions"]["paths"] = {"@lib/*": ["./web/src/lib/*"]}
    tsconfig["include"] = ["web/src"]
    (root / "tsconfig.json").write_text(json.dumps(tsconfig))
    biome = json.loads((root / "web" / "biome.json").read_text())
    biome["files"]["includes"] = ["web/src/**"]
    (root / "biome.json").write_text(json.dumps(biome))
    for name in ("tsconfig.json", "biome.json"):
        (root / "web" / name).unlink()
    money, cart = "web/" + MONEY, "web/" + CART
    pricing = "shop/pricing.py"
    py_text = (root / pricing).read_text()
    assert "percent: int)" in py_text
    with Verifier(root, servers=["pyright", "ruff", "typescript", "biome"], timeout=TIMEOUT,
                  replicas=1) as mixed:
        report = mixed.verify({
            pricing: py_text.replace("percent: int)", "percent: int, currency: str)"),
            money: (root / money).read_text().replace(*SIGNATURE),
        })
    assert report.status == "errors" and report.complete, report
    by_source = {d.source: set() for d in report.diagnostics}
    for d in report.diagnostics:
        by_source[d.source].add(d.path.rsplit(".", 1)[-1])
    # Each file went to its own language's servers only.
    assert by_source.get("pyright", {"py"}) <= {"py"} and by_source.get("ruff", {"py"}) <= {"py"}
    assert by_source["typescript"] <= {"ts", "js"} and by_source.get("biome", {"ts"}) <= {
        "ts", "js"}
    introduced = {(d.source, d.path) for d in report.introduced}
    assert ("pyright", "shop/cart.py") in introduced
    assert ("typescript", cart) in introduced
    checked = set(report.checked_files)
    assert {pricing, "shop/cart.py", money, cart} <= checked


@pytest.mark.slow
def test_packages_in_node_modules_resolve_as_for_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "web"
    shutil.copytree(FIXTURES / "web", root)
    package = root / "node_modules" / "fake-pkg"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "fake-pkg", "types": "index.d.ts"}')
    (package / "index.d.ts").write_text("export declare function shout(s: string): string;\n")
    use = "src/use.ts"
    (root / use).write_text('import { shout } from "fake-pkg";\n'
                            'export const bad: number = shout("x");\n')
    with Verifier(root, servers=["typescript"], timeout=TIMEOUT, replicas=1) as only:
        report = only.verify([use])
    cold = _cold.typescript(root, [use])
    assert [(d.line, d.code) for d in cold.diagnostics] == [(2, "2322")]
    assert _cold.comparable(report.diagnostics, "typescript") == _cold.comparable(
        cold.diagnostics, "typescript")


@pytest.mark.slow
def test_checking_runs_nothing_from_the_workspace(tmp_path: Path) -> None:
    """A tsserver plugin named in tsconfig.json, an ESLint config (JavaScript that an ESLint
    server would run) and a package's install script: none of them may run, even unsandboxed
    (tsc --lsp loads no plugins; Biome's configuration is data)."""
    root = tmp_path / "web"
    shutil.copytree(FIXTURES / "web", root)
    marker = tmp_path / "markers"
    marker.mkdir()
    run = f'require("node:fs").writeFileSync({json.dumps(str(marker))} + "/%s", "ran");\n'
    (root / "tsconfig.json").write_text((root / "tsconfig.json").read_text().replace(
        '"strict": true,', '"strict": true,\n    "plugins": [{"name": "evil-plugin"}],'))
    plugin = root / "node_modules" / "evil-plugin"
    plugin.mkdir(parents=True)
    (plugin / "package.json").write_text('{"name": "evil-plugin", "main": "index.js", '
                                         '"scripts": {"postinstall": "node index.js"}}')
    (plugin / "index.js").write_text(run % "plugin" + "module.exports = () => ({});\n")
    (root / "eslint.config.cjs").write_text(run % "eslint" + "module.exports = [];\n")
    with Verifier(root, servers=["typescript", "biome"], timeout=TIMEOUT, replicas=1,
                  sandbox="off") as unsandboxed:
        report = unsandboxed.verify({MONEY: _text(root, MONEY).replace(*SIGNATURE)})
    assert [(d.path, d.code) for d in report.introduced if d.source == "typescript"] == [
        (CART, "2554"), (CHECKOUT, "2554")]
    assert sorted(p.name for p in marker.iterdir()) == []
    # The canary is live: run by Node.js, the config leaves its marker.
    subprocess.run([_npm.npm_command()[0], str(root / "eslint.config.cjs")], check=True,
                   timeout=60)
    assert sorted(p.name for p in marker.iterdir()) == ["eslint"]


@pytest.mark.slow
def test_a_linter_config_change_reaches_unchanged_files(tmp_path: Path) -> None:
    root = tmp_path / "web"
    shutil.copytree(FIXTURES / "web", root)
    (root / CART).write_text(_text(root, CART).replace(
        "this.lines.push(line);", "if (line.quantity == 0) {\n      return;\n    }\n"
        "    this.lines.push(line);"))
    config = json.loads(_text(root, "biome.json"))
    config["linter"]["rules"] = {"suspicious": {"noDoubleEquals": "off"}}
    with Verifier(root, servers=["biome"], timeout=TIMEOUT, replicas=1) as only:
        before = only.verify([CART])
        # The rule is turned off, and cart.ts is checked as an importer of money.ts.
        after = only.verify({"biome.json": json.dumps(config),
                             MONEY: _text(root, MONEY) + "\n// touched\n"})
    assert [d.code for d in before.diagnostics] == ["lint/suspicious/noDoubleEquals"]
    assert CART in after.checked_files
    assert after.diagnostics == () and [d.path for d in after.resolved] == [CART]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["typescript", "biome"])
def test_the_supervisors_probe_is_answered(shared: Verifier, server: str) -> None:
    session = shared.engine._primary.sessions[server]
    shared.diagnostics([CART])  # started and warm
    shared._run(session._probe(2.0))  # raises RequestTimeout when there is no answer
