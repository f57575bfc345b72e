"""The data set and the scenarios, identical for every server.

Model `i` of the data set is named `m{i:06d}`; it has versions 1..V with source
`s3://bench-artifacts/<name>/<v>`, the tag `team=team-NNN` (about 1,000 models per team), the
version tag `validated=true` on its last version and the alias `champion` on its last version.
The populate scenario creates exactly that through the REST API; `databases.seed_*` writes the
same rows with SQL.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from httpraw import build_request
from loadgen import Expect, Probe

API = "/api/2.0/mlflow"
NAME_DIGITS = 6
ALIAS = "champion"
TEAM_KEY = "team"
VERSION_TAG = ("validated", "true")
PAGE = 100  # max_results of the registered-model searches
PREFIX_BLOCK = 1000  # models per name prefix (the last 3 digits of the name vary)


@dataclass(frozen=True)
class Size:
    name: str
    models: int
    versions: int
    requests: int  # per read scenario, all clients together
    max_seconds: float  # per read scenario
    seed_sql: bool  # load the data set with SQL instead of the API
    populate_models: int  # models the populate scenario creates through the API
    warmup_per_client: int


SIZES: dict[str, Size] = {
    "smoke": Size("smoke", 20, 3, 200, 3.0, False, 20, 3),
    "small": Size("small", 1_000, 10, 20_000, 15.0, False, 1_000, 5),
    "large": Size("large", 100_000, 10, 20_000, 15.0, True, 500, 5),
}


@dataclass(frozen=True)
class VersionSpec:
    version: int
    source: str
    run_id: str
    description: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    team: str
    versions: tuple[VersionSpec, ...]

    @property
    def last_version(self) -> int:
        return self.versions[-1].version


@dataclass(frozen=True)
class Dataset:
    models: int
    versions: int
    prefix: str = "m"
    team_label: str = "team"  # the extra models of the populate scenario get their own teams

    @property
    def teams(self) -> int:
        return max(1, self.models // 1000)

    def name(self, i: int) -> str:
        return f"{self.prefix}{i:0{NAME_DIGITS}d}"

    def team_name(self, team_index: int) -> str:
        return f"{self.team_label}-{team_index:03d}"

    def team(self, i: int) -> str:
        return self.team_name(i % self.teams)

    def team_size(self, team_index: int) -> int:
        base, extra = divmod(self.models, self.teams)
        return base + (1 if team_index < extra else 0)

    def model(self, i: int) -> ModelSpec:
        name = self.name(i)
        versions = tuple(
            VersionSpec(
                version=v,
                source=f"s3://bench-artifacts/{name}/{v}",
                run_id=hashlib.md5(f"{name}/{v}".encode()).hexdigest(),
                description=f"version {v} of {name}",
            )
            for v in range(1, self.versions + 1)
        )
        return ModelSpec(name, f"benchmark model {name}", self.team(i), versions)

    def __iter__(self) -> Iterator[ModelSpec]:
        return (self.model(i) for i in range(self.models))

    # Name prefixes that match up to PREFIX_BLOCK models each: m000…, m001…, …
    def prefix_block(self, index: int) -> tuple[str, int]:
        """The name prefix of block `index` and how many models it matches."""
        prefix = self.name(index * PREFIX_BLOCK)[: len(self.prefix) + NAME_DIGITS - 3]
        first = index * PREFIX_BLOCK
        return prefix, max(0, min(self.models, first + PREFIX_BLOCK) - first)

    @property
    def prefix_blocks(self) -> int:
        return -(-self.models // PREFIX_BLOCK)


class Requests:
    """Encodes requests for one server address, with an Authorization header if given."""

    def __init__(self, host: str, port: int, authorization: str | None = None) -> None:
        self.host_header = f"{host}:{port}"
        self.authorization = authorization

    def get(self, path: str, **params: str | int) -> bytes:
        query = urlencode(params)
        return build_request("GET", f"{API}{path}?{query}", self.host_header,
                             authorization=self.authorization)

    def post(self, path: str, payload: dict[str, object]) -> bytes:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return build_request("POST", f"{API}{path}", self.host_header, body,
                             authorization=self.authorization)


def populate_requests(req: Requests, model: ModelSpec) -> list[bytes]:
    """The calls that create one model with its versions, tags and alias, in order."""
    out = [
        req.post(
            "/registered-models/create", {"name": model.name, "description": model.description}
        )
    ]
    for v in model.versions:
        out.append(
            req.post(
                "/model-versions/create",
                {
                    "name": model.name,
                    "source": v.source,
                    "run_id": v.run_id,
                    "description": v.description,
                },
            )
        )
    out.append(
        req.post(
            "/registered-models/set-tag",
            {"name": model.name, "key": TEAM_KEY, "value": model.team},
        )
    )
    key, value = VERSION_TAG
    last = str(model.last_version)
    out.append(
        req.post(
            "/model-versions/set-tag",
            {"name": model.name, "version": last, "key": key, "value": value},
        )
    )
    out.append(
        req.post("/registered-models/alias", {"name": model.name, "alias": ALIAS, "version": last})
    )
    return out


def populate_jobs(req: Requests, dataset: Dataset, clients: int) -> list[list[bytes]]:
    """Models are dealt round-robin to the clients; each client creates its models in order."""
    jobs: list[list[bytes]] = [[] for _ in range(clients)]
    for i, model in enumerate(dataset):
        jobs[i % clients].extend(populate_requests(req, model))
    return jobs


@dataclass(frozen=True)
class ReadScenario:
    name: str
    description: str
    make: Callable[[Requests, Dataset, random.Random], Probe]
    #: A write measured like a read: sent with the writer's credentials under --auth (the
    #: reader may only read).
    writes: bool = False


def _by_alias(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    i = rng.randrange(ds.models)
    return Probe(
        req.get("/registered-models/alias", name=ds.name(i), alias=ALIAS),
        Expect("model_version", field_equals=("version", str(ds.versions))),
    )


def _get_version(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    i, v = rng.randrange(ds.models), rng.randint(1, ds.versions)
    return Probe(
        req.get("/model-versions/get", name=ds.name(i), version=str(v)),
        Expect("model_version", field_equals=("version", str(v))),
    )


def _get_model(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    name = ds.name(rng.randrange(ds.models))
    return Probe(
        req.get("/registered-models/get", name=name),
        Expect("registered_model", field_equals=("name", name)),
    )


def _latest_versions(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    name = ds.name(rng.randrange(ds.models))
    return Probe(
        req.post("/registered-models/get-latest-versions", {"name": name}),
        Expect("model_versions", count=1),
    )


def _search_versions(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    name = ds.name(rng.randrange(ds.models))
    # max_results=10000 is what the MLflow client sends by default.
    return Probe(
        req.get("/model-versions/search", filter=f"name='{name}'", max_results=10000),
        Expect("model_versions", count=ds.versions),
    )


def _search_prefix(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    prefix, matches = ds.prefix_block(rng.randrange(ds.prefix_blocks))
    return Probe(
        req.get("/registered-models/search", filter=f"name LIKE '{prefix}%'", max_results=PAGE),
        Expect("registered_models", count=min(PAGE, matches)),
    )


def _search_tag(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    team_index = rng.randrange(ds.teams)
    team = ds.team_name(team_index)
    return Probe(
        req.get(
            "/registered-models/search", filter=f"tags.{TEAM_KEY} = '{team}'", max_results=PAGE
        ),
        Expect("registered_models", count=min(PAGE, ds.team_size(team_index))),
    )


def _move_alias(req: Requests, ds: Dataset, rng: random.Random) -> Probe:
    # A write: the alias `champion` of a random model moves to a random version, as a
    # deployment pipeline moves aliases. Last of the scenarios: the alias reads run before it.
    # (An alias every model already has: MLflow 3.17's server answers a 400, a UNIQUE
    # violation, when two requests create the same model's new alias at once.)
    i, v = rng.randrange(ds.models), rng.randint(1, ds.versions)
    return Probe(
        req.post("/registered-models/alias",
                 {"name": ds.name(i), "alias": ALIAS, "version": str(v)}),
        None,  # MLflow and Modelyard answer {}: the status is checked
    )


READ_SCENARIOS: tuple[ReadScenario, ...] = (
    ReadScenario("get_version_by_alias", "GET registered-models/alias", _by_alias),
    ReadScenario("get_version", "GET model-versions/get", _get_version),
    ReadScenario("get_registered_model", "GET registered-models/get", _get_model),
    ReadScenario(
        "get_latest_versions", "POST registered-models/get-latest-versions", _latest_versions
    ),
    ReadScenario("search_versions_by_name", "GET model-versions/search name='…'", _search_versions),
    ReadScenario(
        "search_models_by_prefix",
        f"GET registered-models/search name LIKE 'm0NN%' (max_results={PAGE})",
        _search_prefix,
    ),
    ReadScenario(
        "search_models_by_tag",
        f"GET registered-models/search tags.team = '…' (max_results={PAGE})",
        _search_tag,
    ),
    ReadScenario(
        "move_alias",
        f"POST registered-models/alias: `{ALIAS}` to a random version (a write)",
        _move_alias,
        writes=True,
    ),
)
POPULATE = "populate"
ALL_SCENARIOS: tuple[str, ...] = (POPULATE, *(s.name for s in READ_SCENARIOS))


def read_jobs(
    scenario: ReadScenario,
    req: Requests,
    dataset: Dataset,
    clients: int,
    total: int,
    warmup_per_client: int,
    seed: int,
) -> tuple[list[list[Probe]], list[list[bytes]]]:
    """Per client: warm-up probes and measured requests, drawn with a fixed seed so that
    every server gets the same requests."""
    rng = random.Random(f"{seed}/{scenario.name}")
    per_client = -(-total // clients)
    warmups: list[list[Probe]] = []
    measured: list[list[bytes]] = []
    for _ in range(clients):
        warmups.append([scenario.make(req, dataset, rng) for _ in range(warmup_per_client)])
        measured.append([scenario.make(req, dataset, rng).raw for _ in range(per_client)])
    return warmups, measured


def scenario_names(selected: Sequence[str] | None) -> list[str]:
    if not selected:
        return list(ALL_SCENARIOS)
    unknown = sorted(set(selected) - set(ALL_SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; known: {ALL_SCENARIOS}")
    return [s for s in ALL_SCENARIOS if s in selected]
