"""Table- and column-level lineage from SQL text, by sqlglot, without a database.

``extract_lineage(sql, dialect, ...)`` splits a script into its ``;``-separated statements,
qualifies each with sqlglot's optimizer (identifier normalisation, tables qualified with the
default catalog/schema, columns qualified and stars expanded against the known columns) and walks
the qualified scopes: for every column a statement writes, which table columns feed it and how.

Statements
    INSERT ... SELECT (and INSERT OVERWRITE, Snowflake's multi-table INSERT), CREATE TABLE AS,
    CREATE TABLE ... CLONE, CREATE [OR REPLACE] [MATERIALIZED] VIEW, SELECT ... INTO, MERGE and
    UPDATE (with FROM or joins) write their targets and read every table their queries name.
    A bare SELECT writes nothing: it has inputs but no outputs and no column edges. Any other
    statement (DDL without a query, DELETE, GRANT, USE, ...) is ``skipped`` with a reason; a
    CREATE TABLE with a column list (or LIKE a known table) is skipped too, but its columns are
    remembered for later statements of the script, like the columns written by CREATE ... AS.
    Statements are numbered from 0 (``index``); their line and column count from 1.

Target columns
    INSERT maps the query's columns by position onto the listed columns or, without a list, onto
    the target's columns when they are known (from ``schema`` or an earlier CREATE in the
    script); ``BY NAME`` maps by name. CREATE ... AS writes the query's output names (or the
    view's column list). MERGE writes the columns of its WHEN MATCHED UPDATE SET and WHEN NOT
    MATCHED INSERT clauses (``SET *`` / ``INSERT *`` write the columns of the USING source).
    UPDATE writes the columns it sets. Where the mapping cannot be known, the statement keeps
    its table-level lineage and says why in ``warnings``.

Transformation kinds (the vocabulary of OpenLineage's columnLineage facet)
    DIRECT/IDENTITY        the value of the column, possibly renamed
    DIRECT/TRANSFORMATION  an expression over it: arithmetic, function, cast, a CASE value
    DIRECT/AGGREGATION     inside an aggregate (also when windowed: SUM(x) OVER (...))
    INDIRECT/JOIN          in a JOIN condition (ON / USING)
    INDIRECT/FILTER        in WHERE, HAVING or QUALIFY
    INDIRECT/GROUP_BY      in GROUP BY
    INDIRECT/SORT          in ORDER BY (also ORDER BY inside an aggregate)
    INDIRECT/WINDOW        in a window's PARTITION BY / ORDER BY
    INDIRECT/CONDITIONAL   in a CASE WHEN / IF condition, an aggregate's FILTER (WHERE ...),
                           or a MERGE clause's WHEN ... AND condition

Indirect edges are reported per output column, as OpenLineage does: a ``WHERE s.status = 'x'``
gives an edge from ``s.status`` to every column the statement writes. The row-level clauses
(JOIN, WHERE, HAVING, QUALIFY, GROUP BY, ORDER BY) of a CTE, derived table or subquery reach
every column read from it; a CASE condition or a window spec stays with the column it defines.
Through CTEs, subqueries and set operations, kinds compose: an indirect kind is kept, a direct
source of a column that an outer clause uses takes that clause's kind, and two direct kinds
give the stronger (AGGREGATION > TRANSFORMATION > IDENTITY). A set operation's column is fed by
the same-position column of every branch (UNION [ALL], INTERSECT and EXCEPT alike). One source
column may reach one target column with several kinds; each is an edge. Edges from a column to
itself are left out, and so are table edges from a table to itself.

MERGE and UPDATE
    References to the target's own columns (the ON key, ``SET total = t.total + s.amount``)
    describe the row being changed, not an input: the target is neither an input nor a source
    column of these statements. UPDATE's WHERE gives FILTER edges, MERGE's ON gives JOIN edges.
    Bare names in a WHEN NOT MATCHED clause are the source's (no target row exists there); a
    T-SQL ``UPDATE x ... FROM t AS x`` writes ``t``.

Names
    Identifiers resolve by the dialect's rules (sqlglot's normalisation strategy: Postgres
    folds unquoted names to lower case, Snowflake to upper case, BigQuery/Spark/DuckDB/T-SQL
    ignore case, MySQL keeps it), and are reported lower-case unless their case is significant:
    a Snowflake name that resolves to upper case is reported in lower case, so ``ORDERS``,
    ``orders`` and ``"ORDERS"`` all report ``orders`` while ``"Orders"`` stays ``Orders``.
    A dialect string may carry sqlglot settings, e.g. ``"mysql, normalization_strategy =
    lowercase"``. Qualified names are the dot-joined catalog, schema and table; a table without
    a schema gets ``default_schema`` and then ``default_catalog``, a table with a schema gets
    ``default_catalog``. ``database..table`` (T-SQL, Snowflake: the database's default schema)
    gets ``default_schema``, and without one is reported as written, ``database..table``; in
    other dialects it is a parse error. Keys of ``schema`` are qualified names in the same
    reported form (one to three parts, completed with the defaults; ``database..table`` where
    the dialect has it), and its column names too.

Stars
    ``SELECT *`` and ``t.*`` are expanded when the source's columns are known (``schema``, an
    earlier CREATE, or the explicit columns of a CTE / subquery). When they are not, the star's
    columns are not reported: the statement keeps its table-level lineage and the columns
    named explicitly, and says so in ``warnings``; a table created from such a query has
    unknown columns for the rest of the script. A column that an outer query names through an
    unexpanded star (``WITH c AS (SELECT * FROM t) SELECT id FROM c``) is traced to the star's
    only possible source (``t.id``).

Unknown columns
    Without ``schema``, sqlglot cannot tell which of several tables an unqualified column comes
    from (reported in ``warnings``, the column's direct edges are left out), nor whether a name
    in a correlated subquery is local; SQL resolves names in the innermost scope first, so a
    subquery reading one table of unknown columns is given its bare names.

Errors
    A statement sqlglot cannot tokenise or parse raises :class:`SqlParseError` (422) naming the
    statement, the line and column and the source line. An unknown dialect, or a ``schema``
    key that is not a one- to three-part name, raises
    :class:`~headwater.catalog.errors.Unprocessable`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify_columns import qualify_columns
from sqlglot.optimizer.qualify_tables import qualify_tables
from sqlglot.optimizer.scope import Scope, build_scope, traverse_scope, walk_in_scope
from sqlglot.schema import MappingSchema
from sqlglot.tokenizer_core import Token, TokenType

from headwater.catalog.errors import Unprocessable
from headwater.catalog.field_lineage import Transformation

__all__ = [
    "ColumnEdge",
    "ColumnRef",
    "FieldLineageEdge",
    "SqlLineage",
    "SqlParseError",
    "StatementLineage",
    "StatementStatus",
    "TableEdge",
    "TransformationSubtype",
    "TransformationType",
    "extract_lineage",
]


class TransformationType(StrEnum):
    DIRECT = "DIRECT"
    INDIRECT = "INDIRECT"


class TransformationSubtype(StrEnum):
    """OpenLineage's column lineage subtypes; their values are the catalog's ``Transformation``."""

    IDENTITY = "IDENTITY"
    TRANSFORMATION = "TRANSFORMATION"
    AGGREGATION = "AGGREGATION"
    JOIN = "JOIN"
    FILTER = "FILTER"
    GROUP_BY = "GROUP_BY"
    SORT = "SORT"
    WINDOW = "WINDOW"
    CONDITIONAL = "CONDITIONAL"

    @property
    def type(self) -> TransformationType:
        return TransformationType.DIRECT if self in _DIRECT_RANK else TransformationType.INDIRECT


_S = TransformationSubtype
_DIRECT_RANK = {_S.IDENTITY: 0, _S.TRANSFORMATION: 1, _S.AGGREGATION: 2}
# Which kind names a (source, target) pair in the catalog, which keeps one edge per pair.
_PRIMARY_ORDER = (
    _S.AGGREGATION,
    _S.TRANSFORMATION,
    _S.IDENTITY,
    _S.JOIN,
    _S.FILTER,
    _S.GROUP_BY,
    _S.WINDOW,
    _S.CONDITIONAL,
    _S.SORT,
)


class ColumnRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    table: str = Field(description="qualified name of the table or view")
    column: str


class ColumnEdge(BaseModel):
    """Data of ``source`` reaches ``target``, as ``type``/``subtype`` says."""

    model_config = ConfigDict(frozen=True)

    source: ColumnRef
    target: ColumnRef
    subtype: TransformationSubtype

    @computed_field  # type: ignore[prop-decorator]
    @property
    def type(self) -> TransformationType:
        return self.subtype.type


class TableEdge(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    target: str


class FieldLineageEdge(BaseModel):
    """One (source, target) column pair with the kind the catalog records and every kind seen."""

    model_config = ConfigDict(frozen=True)

    source: ColumnRef
    target: ColumnRef
    transformation: Transformation
    subtypes: list[TransformationSubtype]


class StatementStatus(StrEnum):
    ANALYSED = "analysed"
    SKIPPED = "skipped"


class StatementLineage(BaseModel):
    index: int = Field(description="position of the statement in the script, from 0")
    line: int = Field(description="line where the statement starts, from 1")
    column: int = Field(description="column where the statement starts, from 1")
    kind: str = Field(description="e.g. INSERT, CREATE TABLE AS, MERGE, SELECT, GRANT")
    status: StatementStatus
    reason: str | None = Field(None, description="why a skipped statement was skipped")
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    table_edges: list[TableEdge] = Field(default_factory=list)
    column_edges: list[ColumnEdge] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class SqlLineage(BaseModel):
    """The lineage of a script: per statement, and merged over the script (sorted, distinct)."""

    dialect: str
    statements: list[StatementLineage]
    inputs: list[str]
    outputs: list[str]
    table_edges: list[TableEdge]
    column_edges: list[ColumnEdge]

    def field_lineage(self) -> list[FieldLineageEdge]:
        """The column edges merged per (source, target) pair, as the catalog stores them: the
        recorded kind is the strongest direct one, else the first indirect one by a fixed order
        (JOIN, FILTER, GROUP_BY, WINDOW, CONDITIONAL, SORT); ``subtypes`` lists all, that order."""
        kinds: dict[tuple[ColumnRef, ColumnRef], set[TransformationSubtype]] = {}
        for edge in self.column_edges:
            kinds.setdefault((edge.source, edge.target), set()).add(edge.subtype)
        return [
            FieldLineageEdge(
                source=source,
                target=target,
                transformation=Transformation(next(k for k in _PRIMARY_ORDER if k in seen)),
                subtypes=[k for k in _PRIMARY_ORDER if k in seen],
            )
            for (source, target), seen in kinds.items()
        ]


class SqlParseError(Unprocessable):
    """sqlglot cannot read a statement: where, and the line it happened on."""

    title = "SQL cannot be parsed"

    def __init__(
        self, message: str, *, statement: int | None, line: int, column: int, snippet: str
    ) -> None:
        super().__init__(
            message,
            statement=statement,
            line=line,
            column=column,
            snippet=snippet,
            errors=[{"loc": ["body", "sql"], "msg": message}],
        )
        self.statement = statement
        self.line = line
        self.column = column
        self.snippet = snippet


# --- names -----------------------------------------------------------------------------------

TableKey = tuple[str, str, str]  # catalog, schema, table: resolved names, sentinels when absent
Origin = tuple[TableKey, str]  # a physical column
Contribution = tuple[Origin, TransformationSubtype]
Contributions = frozenset[Contribution]

# Stand-ins for a missing catalog/schema, so every table has three parts: sqlglot's
# MappingSchema needs one nesting depth for all tables. They never leave this module.
_NO_CATALOG = "hw__no_catalog"
_NO_SCHEMA = "hw__no_schema"
_EMPTY: Contributions = frozenset()


class _Names:
    """The dialect's identifier rules, the defaults, and the reported (canonical) form."""

    def __init__(
        self, dialect: Dialect, default_catalog: str | None, default_schema: str | None
    ) -> None:
        self.dialect = dialect
        self.upper = dialect.normalization_strategy in (
            NormalizationStrategy.UPPERCASE,
            NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE,
        )
        self.no_catalog = self._identifier(_NO_CATALOG)
        self.catalog = self._identifier(default_catalog) if default_catalog else self.no_catalog
        self.schema = self._identifier(default_schema or _NO_SCHEMA)
        self.no_schema = self._identifier(_NO_SCHEMA)
        self.has_default_schema = bool(default_schema)
        self._sentinels = {self.no_catalog.name, self.no_schema.name}

    def _identifier(self, text: str) -> exp.Identifier:
        """A default catalog/schema as written in SQL, normalised as qualify would."""
        try:
            ident = exp.parse_identifier(text, dialect=self.dialect)
        except SqlglotError:
            ident = exp.to_identifier(text, quoted=True)
        ident.meta["is_table"] = True
        normalized: exp.Identifier = normalize_identifiers(ident, dialect=self.dialect)
        return normalized

    def key(self, table: exp.Table) -> TableKey:
        """The key of a normalised table, completed with the defaults as qualify does."""
        ident = table.this
        if isinstance(ident, exp.Identifier) and (
            ident.args.get("temporary") or ident.args.get("global_")
        ):
            # T-SQL's #local / ##global temporary tables live outside every catalog and schema.
            prefix = "##" if ident.args.get("global_") else "#"
            return (self.no_catalog.name, self.no_schema.name, prefix + ident.name)
        if not table.db:
            if table.catalog:
                # database..table (T-SQL, Snowflake): the database's default schema.
                return (table.catalog, self.schema.name, table.name)
            catalog = self.catalog.name if self.has_default_schema else self.no_catalog.name
            return (catalog, self.schema.name, table.name)
        return (table.catalog or self.catalog.name, table.db, table.name)

    def display(self, name: str) -> str:
        return name.lower() if self.upper and name == name.upper() else name

    def actual(self, name: str) -> str:
        return name.upper() if self.upper and name == name.lower() else name

    def qualified(self, key: TableKey) -> str:
        catalog, schema, name = key
        if schema == self.no_schema.name and catalog not in self._sentinels:
            # database..table without a default schema: written as it was, not as the
            # two-part schema.table it would otherwise read as.
            return f"{self.display(catalog)}..{self.display(name)}"
        return ".".join(self.display(p) for p in key if p not in self._sentinels)

    def schema_key(self, qualified_name: str) -> TableKey:
        parts = qualified_name.split(".")
        # database..table, in the dialects where it names the database's default schema.
        schemaless = len(parts) == 3 and not parts[1] and isinstance(self.dialect, TSQL | Snowflake)
        named = [p for i, p in enumerate(parts) if not (schemaless and i == 1)]
        if not 1 <= len(parts) <= 3 or not all(p.strip() for p in named):
            raise Unprocessable(
                f"schema key {qualified_name!r} is not a table name of one to three parts",
                errors=[{"loc": ["body", "schema", qualified_name], "msg": "bad table name"}],
            )
        idents = [exp.to_identifier(self.actual(p), quoted=True) for p in parts]
        table = exp.Table(
            this=idents[-1],
            db=idents[-2] if len(idents) > 1 and not schemaless else None,
            catalog=idents[-3] if len(idents) > 2 else None,
        )
        return self.key(normalize_identifiers(table, dialect=self.dialect))

    def schema_column(self, name: str) -> str:
        column = exp.column(exp.to_identifier(self.actual(name), quoted=True))
        return str(normalize_identifiers(column, dialect=self.dialect).name)


# --- parsing ---------------------------------------------------------------------------------


@dataclass
class _Chunk:
    index: int
    line: int
    column: int
    tokens: list[Token]


def _position(sql: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(sql)))
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def _snippet(sql: str, line: int, column: int, width: int = 160) -> str:
    lines = sql.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    if len(text) <= width:
        return text
    start = max(0, min(column - 1 - width // 2, len(text) - width))
    return text[start : start + width]


def _split(sql: str, dialect: Dialect) -> list[_Chunk]:
    try:
        tokens = dialect.tokenize(sql)
    except TokenError as error:
        raise _token_error(sql, error) from error
    chunks: list[_Chunk] = []
    current: list[Token] = []
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if current:
                line, column = _position(sql, current[0].start)
                chunks.append(_Chunk(len(chunks), line, column, current))
            current = []
        else:
            current.append(token)
    return chunks


def _token_error(sql: str, error: TokenError) -> SqlParseError:
    # The tokenizer names where the unreadable token starts ("Missing ' from 3:41", an offset)
    # in the error it wraps; failing that, the middle of the context window it quotes.
    found = re.search(r"from (\d+):(\d+)", str(error.__cause__ or ""))
    if found:
        offset = int(found.group(2))
    elif error.start is not None and error.start > 0:
        offset = error.start + 50
    elif error.end is not None:
        offset = max(0, error.end - 50)
    else:
        offset = 0
    line, column = _position(sql, offset)
    detail = re.sub(r" from \d+:\d+", "", str(error.__cause__ or error))
    return SqlParseError(
        f"SQL cannot be tokenised at line {line}, column {column}: {detail}",
        statement=None,
        line=line,
        column=column,
        snippet=_snippet(sql, line, column),
    )


_TOKEN = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+, col: \d+, .*?>")
_CLASS = re.compile(r"<class 'sqlglot\.[\w.]*\.(\w+)'>")


def _readable(description: str) -> str:
    """sqlglot's messages without the reprs of its tokens and classes."""
    description = _TOKEN.sub(
        lambda m: "the end of the statement" if m.group(1) == "SENTINEL" else repr(m.group(2)),
        description,
    )
    return _CLASS.sub(lambda m: m.group(1), description)


def _incomplete(tree: exp.Expr) -> tuple[exp.Expr, str] | None:
    """The first node of ``tree`` without a part its kind requires, and that part's name: what
    sqlglot makes of some malformed statements (``FROM a LATERAL .b``, ``a..b``) instead of
    refusing them, and what its optimizer then fails on."""
    for node in tree.walk():
        for part, required in node.arg_types.items():
            value = node.args.get(part)
            if (required and (value is None or value == "")) or (
                isinstance(value, list) and any(v is None for v in value)
            ):
                return node, part
    return None


def _offset(node: exp.Expr) -> int | None:
    """Where ``node``'s text begins: its earliest token sqlglot kept a place for."""
    return min((n.meta["start"] for n in node.walk() if "start" in n.meta), default=None)


def _empty_schema(tree: exp.Expr, dialect: Dialect) -> exp.Table | None:
    """A ``database..table`` name where the dialect has none (sqlglot reads it in every
    dialect; only T-SQL and Snowflake give it a meaning, the database's default schema)."""
    if isinstance(dialect, TSQL | Snowflake):
        return None
    return next((t for t in tree.find_all(exp.Table) if t.args.get("db") == ""), None)


def _refused(
    sql: str, chunk: _Chunk, description: str, at: tuple[int, int] | None = None
) -> SqlParseError:
    """The statement cannot be parsed: at (line, column), or where it starts."""
    line, column = at or (chunk.line, chunk.column)
    return SqlParseError(
        f"statement {chunk.index + 1} cannot be parsed at line {line}, column {column}: "
        f"{description}",
        statement=chunk.index,
        line=line,
        column=column,
        snippet=_snippet(sql, line, column),
    )


def _parse(sql: str, dialect: Dialect, chunk: _Chunk) -> exp.Expr | None:
    try:
        parsed = dialect.parser().parse(chunk.tokens, sql)
    except TokenError as error:
        # The parser tokenises text of its own (a type name in brackets): where, it does not say.
        raise _refused(sql, chunk, _readable(str(error))) from error
    except ValueError as error:
        # Some of its builders refuse what the parser hands them ("Cannot convert empty name
        # into var."), also without a place.
        raise _refused(sql, chunk, str(error)) from error
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        line = int(first.get("line") or chunk.line)
        end_column = int(first.get("col") or chunk.column)
        highlight = str(first.get("highlight") or "")
        # sqlglot names the column where the offending token ends; report where it starts.
        column = (
            end_column - len(highlight) + 1 if highlight and "\n" not in highlight else end_column
        )
        description = _readable(str(first.get("description") or error))
        raise _refused(sql, chunk, description, (line, max(column, 1))) from error
    tree = parsed[0] if parsed else None
    if tree is None:
        return None
    node: exp.Expr | None = None
    if (gap := _incomplete(tree)) is not None:
        node, part = gap
        if isinstance(node, exp.Dot):
            description = f"a dot with nothing {'before' if part == 'this' else 'after'} it"
        else:
            description = f"sqlglot reads it as an incomplete {type(node).__name__} ({part})"
    elif (node := _empty_schema(tree, dialect)) is not None:
        description = "database..table (no schema name) is T-SQL and Snowflake syntax"
    if node is not None:
        offset = _offset(node)
        raise _refused(sql, chunk, description, None if offset is None else _position(sql, offset))
    return tree


# --- the walk over qualified scopes ----------------------------------------------------------


def _compose(outer: TransformationSubtype, inner: TransformationSubtype) -> TransformationSubtype:
    if inner not in _DIRECT_RANK:
        return inner
    if outer not in _DIRECT_RANK:
        return outer
    return outer if _DIRECT_RANK[outer] >= _DIRECT_RANK[inner] else inner


def _composed(outer: TransformationSubtype, inner: Iterable[Contribution]) -> set[Contribution]:
    return {(origin, _compose(outer, kind)) for origin, kind in inner}


def _is_star(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.Star) or (
        isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
    )


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, (exp.Alias, exp.Paren, exp.Subquery)) and isinstance(
        node.this, exp.Expr
    ):
        if isinstance(node, exp.Subquery) and node.alias:
            break
        node = node.this
    return node


# sqlglot models these window functions as aggregates; they pick one row's value instead.
_NAVIGATION = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)


def _kind_in_projection(node: exp.Expr, root: exp.Expr) -> TransformationSubtype:
    """How a column (or subquery) inside a projection reaches the projection's value."""
    indirect: TransformationSubtype | None = None
    aggregated = False
    child, parent = node, node.parent
    while child is not root and parent is not None:
        key = child.arg_key
        found: TransformationSubtype | None = None
        if isinstance(parent, exp.Window) and key in ("partition_by", "order"):
            found = _S.WINDOW
        elif isinstance(parent, exp.If) and key == "this":
            found = _S.CONDITIONAL
        elif isinstance(parent, exp.Case) and key == "this":
            found = _S.CONDITIONAL
        elif isinstance(parent, exp.Filter) and key == "expression":
            found = _S.CONDITIONAL
        elif (
            isinstance(parent, exp.Order)
            and key == "expressions"
            and not isinstance(parent.parent, exp.Window)
        ):
            found = _S.SORT
        elif isinstance(parent, exp.WithinGroup) and key == "expression":
            found = _S.SORT
        if found is not None and indirect is None:
            indirect = found
        if isinstance(parent, exp.AggFunc) and not isinstance(parent, _NAVIGATION):
            aggregated = True
        child, parent = parent, parent.parent
    if indirect is not None:
        return indirect
    if aggregated:
        return _S.AGGREGATION
    return _S.IDENTITY if _unwrap(root) is node else _S.TRANSFORMATION


def _source_columns(
    source: exp.Table | Scope, known: Mapping[TableKey, Sequence[str]], names: _Names
) -> list[str] | None:
    """The columns of a FROM source, when they are known: a table's from ``schema`` or an
    earlier CREATE, a subquery's or CTE's from its projections (unless it has a star)."""
    if isinstance(source, exp.Table):
        if not isinstance(source.this, exp.Identifier):
            return None
        columns = known.get(names.key(source))
        return None if columns is None else list(columns)
    expression = source.expression
    if isinstance(expression, (exp.Select, exp.SetOperation)):
        if any(_is_star(p) for p in expression.selects):
            return None
        return list(expression.named_selects)
    alias = expression.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return [c.name for c in alias.columns]
    return None


class _Resolver:
    """Traces columns of a qualified query's scopes back to physical table columns."""

    def __init__(
        self,
        root: Scope,
        names: _Names,
        known: Mapping[TableKey, Sequence[str]],
        warn: Callable[[str], None],
    ) -> None:
        self.root = root
        self.names = names
        self.known = known
        self.warn = warn
        # Recursive CTEs point at scopes that were never traversed: use the traversed twin.
        self._scopes = {id(s.expression): s for s in root.traverse()}
        self._outputs: dict[tuple[int, int | str], Contributions | None] = {}
        self._rows: dict[int, Contributions] = {}
        self._active: set[tuple[str, int, int | str]] = set()

    def _canonical(self, scope: Scope) -> Scope:
        return self._scopes.get(id(scope.expression), scope)

    # tables ------------------------------------------------------------------------------

    def reads(self) -> set[TableKey]:
        keys: set[TableKey] = set()
        for scope in self.root.traverse():
            for source in scope.sources.values():
                if (
                    isinstance(source, exp.Table)
                    and isinstance(source.this, exp.Identifier)
                    and not source.meta.get("hw_target")
                ):
                    keys.add(self.names.key(source))
        return keys

    def _known_columns(self, source: exp.Table | Scope) -> list[str] | None:
        if isinstance(source, Scope):
            source = self._canonical(source)
        return _source_columns(source, self.known, self.names)

    # outputs -----------------------------------------------------------------------------

    def output(self, scope: Scope, ref: int | str) -> Contributions | None:
        """Sources of one output column (by position or name); None when it cannot be known."""
        scope = self._canonical(scope)
        memo_key = (id(scope), ref)
        if memo_key in self._outputs:
            return self._outputs[memo_key]
        guard = ("output", id(scope), ref)
        if guard in self._active:
            return _EMPTY  # a recursive CTE reading itself adds nothing new
        self._active.add(guard)
        try:
            result = self._output(scope, ref)
        finally:
            self._active.discard(guard)
        self._outputs[memo_key] = result
        return result

    def _output(self, scope: Scope, ref: int | str) -> Contributions | None:
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            if isinstance(ref, str):
                names = expression.named_selects
                if ref not in names:
                    return None
                ref = names.index(ref)
            found: set[Contribution] = set()
            for branch in scope.set_operation_scopes:
                part = self.output(branch, ref)
                if part is None:
                    return None
                found |= part
            return frozenset(found | self.rows(scope))
        if isinstance(expression, exp.Select):
            projection = self._projection(expression, ref)
            if projection is None:
                return self._through_star(scope, expression, ref)
            return frozenset(self._expression(scope, projection, None) | self.rows(scope))
        if isinstance(expression, exp.UDTF):
            if scope.subquery_scopes:  # LATERAL (SELECT ...)
                return self.output(scope.subquery_scopes[0], ref)
            found = set()
            for node in walk_in_scope(expression):
                if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                    found |= _composed(_S.TRANSFORMATION, self._column(scope, node))
            return frozenset(found)
        return None

    @staticmethod
    def _projection(select: exp.Select, ref: int | str) -> exp.Expr | None:
        selects = select.expressions
        if isinstance(ref, int):
            if ref >= len(selects) or any(_is_star(s) for s in selects[: ref + 1]):
                return None
            projection: exp.Expr = selects[ref]
            return projection
        for projection in selects:
            if not _is_star(projection) and projection.alias_or_name == ref:
                return projection
        return None

    def _through_star(
        self, scope: Scope, select: exp.Select, ref: int | str
    ) -> Contributions | None:
        """A name read through an unexpanded star comes from the star's only possible source."""
        if isinstance(ref, int):
            return None
        candidates: dict[int, exp.Table | Scope] = {}
        for star in (s for s in select.expressions if _is_star(s)):
            if isinstance(star, exp.Column) and star.table:
                source = scope.sources.get(star.table)
                sources = [source] if source is not None else []
            else:
                sources = [src for _, src in scope.selected_sources.values()]
            for source in sources:
                columns = self._known_columns(source)
                if columns is None or ref in columns:
                    candidates[id(source)] = source
        if len(candidates) != 1:
            return None
        (source,) = candidates.values()
        return frozenset(self._of_source(source, ref) | self.rows(scope))

    # rows --------------------------------------------------------------------------------

    def rows(self, scope: Scope) -> Contributions:
        """Row-level (indirect) sources of a scope: they reach every column read from it."""
        scope = self._canonical(scope)
        if id(scope) in self._rows:
            return self._rows[id(scope)]
        guard = ("rows", id(scope), 0)
        if guard in self._active:
            return _EMPTY
        self._active.add(guard)
        try:
            result = frozenset(self._scope_rows(scope))
        finally:
            self._active.discard(guard)
        self._rows[id(scope)] = result
        return result

    def _scope_rows(self, scope: Scope) -> set[Contribution]:
        expression = scope.expression
        found: set[Contribution] = set()
        if isinstance(expression, exp.SetOperation):
            for branch in scope.set_operation_scopes:
                found |= self.rows(branch)
            order = expression.args.get("order")
            if isinstance(order, exp.Order):
                names = expression.named_selects
                for column in order.find_all(exp.Column):
                    if column.name in names:
                        for branch in scope.set_operation_scopes:
                            part = self.output(branch, names.index(column.name))
                            found |= _composed(_S.SORT, part or _EMPTY)
            return found
        if not isinstance(expression, exp.Select):
            return found
        for join in expression.args.get("joins") or []:
            condition = join.args.get("on")
            if isinstance(condition, exp.Expr):
                found |= self._expression(scope, condition, _S.JOIN)
        clauses = (
            ("where", _S.FILTER),
            ("having", _S.FILTER),
            ("qualify", _S.FILTER),
            ("group", _S.GROUP_BY),
            ("order", _S.SORT),
        )
        for arg, kind in clauses:
            clause = expression.args.get(arg)
            if isinstance(clause, exp.Expr):
                found |= self._clause(scope, expression, clause, kind, aliases=arg != "where")
        group = expression.args.get("group")
        if isinstance(group, exp.Group) and group.args.get("all"):
            # GROUP BY ALL groups by every projection that aggregates nothing.
            for projection in expression.expressions:
                if not any(
                    isinstance(n, exp.AggFunc) and not isinstance(n, _NAVIGATION)
                    for n in walk_in_scope(projection)
                ):
                    found |= self._clause(scope, expression, projection, _S.GROUP_BY, aliases=False)
        for _, source in scope.selected_sources.values():
            if isinstance(source, Scope):
                found |= self.rows(source)
        return found

    def _clause(
        self,
        scope: Scope,
        select: exp.Select,
        clause: exp.Expr,
        kind: TransformationSubtype,
        *,
        aliases: bool,
    ) -> set[Contribution]:
        """A clause's sources. GROUP BY, HAVING, QUALIFY and ORDER BY may name a projection by
        its alias (sqlglot expands most such references; ORDER BY's it keeps): its sources."""
        named = (
            {p.alias: p for p in select.expressions if isinstance(p, exp.Alias) and p.alias}
            if aliases
            else {}
        )
        found: set[Contribution] = set()
        for node in walk_in_scope(clause):
            if isinstance(node, exp.Column) and not node.table and node.name in named:
                found |= _composed(kind, self._expression(scope, named[node.name], None))
            elif isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                found |= _composed(kind, self._column(scope, node))
            elif isinstance(node, exp.UNWRAPPED_QUERIES) and node is not clause:
                found |= _composed(kind, self._subquery(scope, node))
        return found

    # expressions -------------------------------------------------------------------------

    def _expression(
        self, scope: Scope, root: exp.Expr, clause: TransformationSubtype | None
    ) -> set[Contribution]:
        """Sources of an expression: a projection (``clause`` None) or a clause's condition."""
        found: set[Contribution] = set()
        for node in walk_in_scope(root):
            if isinstance(node, exp.Column):
                if isinstance(node.this, exp.Star):
                    continue
                kind = clause or _kind_in_projection(node, root)
                found |= _composed(kind, self._column(scope, node))
            elif isinstance(node, exp.Window) and isinstance(node.args.get("alias"), exp.Expr):
                found |= self._named_window(scope, node, clause)
            elif isinstance(node, exp.UNWRAPPED_QUERIES) and node is not root:
                kind = clause or _kind_in_projection(node, root)
                found |= _composed(kind, self._subquery(scope, node))
        return found

    def _named_window(
        self, scope: Scope, window: exp.Window, clause: TransformationSubtype | None
    ) -> set[Contribution]:
        """``OVER w`` with ``WINDOW w AS (PARTITION BY ... ORDER BY ...)``: its spec's columns."""
        select = scope.expression
        name = window.args["alias"].name
        found: set[Contribution] = set()
        for named in select.args.get("windows") or [] if isinstance(select, exp.Select) else []:
            if isinstance(named, exp.Window) and named.this.name == name:
                for part in (*(named.args.get("partition_by") or []), named.args.get("order")):
                    if not isinstance(part, exp.Expr):
                        continue
                    for column in part.find_all(exp.Column):
                        found |= _composed(clause or _S.WINDOW, self._column(scope, column))
        return found

    def _subquery(self, scope: Scope, query: exp.Expr) -> set[Contribution]:
        sub = next((s for s in scope.subquery_scopes if s.expression is query), None)
        if sub is None:
            self.warn(f"a subquery could not be traced: {query.sql(dialect=self.names.dialect)}")
            return set()
        found: set[Contribution] = set(self.rows(sub))
        if isinstance(query, exp.Query):
            for index in range(len(query.selects)):
                found |= self.output(sub, index) or _EMPTY
        return found

    def _column(self, scope: Scope, column: exp.Column) -> set[Contribution]:
        source = self._source_of(scope, column)
        if source is None:
            self.warn(
                f"column {column.sql(dialect=self.names.dialect)} could not be attributed to a "
                "table: give the columns of the tables it may come from in `schema`"
            )
            return set()
        return self._of_source(source, column.name)

    def _of_source(self, source: exp.Table | Scope, name: str) -> set[Contribution]:
        if isinstance(source, exp.Table):
            if source.meta.get("hw_target") or not isinstance(source.this, exp.Identifier):
                return set()
            return {((self.names.key(source), name), _S.IDENTITY)}
        found = self.output(source, name)
        if found is None:
            self.warn(
                f"column {name} is read through a star whose columns are unknown: "
                "its sources are not reported"
            )
            return set()
        return set(found)

    def _source_of(self, scope: Scope, column: exp.Column) -> exp.Table | Scope | None:
        name = column.table
        current: Scope | None = scope
        while current is not None:
            if name:
                if name in current.sources:
                    return current.sources[name]
            else:
                # Unqualified: the only source that may have the column (no schema needed when
                # there is one source, or when the others are known to lack it).
                candidates = [
                    src
                    for _, src in current.selected_sources.values()
                    if (cols := self._known_columns(src)) is None or column.name in cols
                ]
                if len(candidates) == 1:
                    return candidates[0]
                if candidates:
                    return None
            current = current.parent
        return None


# --- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Assign:
    """One target column written from one projection, under zero or more conditions."""

    target: TableKey
    column: str
    ref: int | str
    conditions: tuple[int, ...] = ()


@dataclass
class _Plan:
    kind: str
    targets: list[TableKey]
    query: exp.Expr | None
    assigns: list[_Assign] = field(default_factory=list)
    # How to derive the assignments once the query is qualified (stars expanded); also says
    # why some could not be derived.
    mapping: Callable[[exp.Query], tuple[list[_Assign], list[str]]] | None = None
    # A CREATE ... AS: remember the columns it writes for later statements.
    remember: TableKey | None = None
    warnings: list[str] = field(default_factory=list)


class _Skip(Exception):
    """A statement that moves no data; ``kind`` None names it by its first word."""

    def __init__(self, kind: str | None, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _with_ctes(query: exp.Query, with_: Any) -> exp.Query:
    """Move a statement-level WITH (``WITH c AS (...) INSERT ...``) onto its query."""
    if not isinstance(with_, exp.With):
        return query
    own = query.args.get("with_")
    ctes = [c.copy() for c in with_.expressions]
    recursive = bool(with_.args.get("recursive"))
    if isinstance(own, exp.With):
        ctes += list(own.expressions)
        recursive = recursive or bool(own.args.get("recursive"))
    query.set("with_", exp.With(expressions=ctes, recursive=recursive))
    return query


def _qualified_by(expression: exp.Expr, table: str) -> exp.Expr:
    """A copy whose unqualified columns (outside subqueries) name ``table``."""
    copy = expression.copy()
    for node in walk_in_scope(copy):
        if isinstance(node, exp.Column) and not node.table and not isinstance(node.this, exp.Star):
            node.set("table", exp.to_identifier(table, quoted=True))
    return copy


def _query_of(node: Any) -> exp.Query | None:
    """The query of an INSERT / CREATE, without wrapping parentheses; None for VALUES."""
    while isinstance(node, exp.Subquery) and not node.alias:
        node = node.this
    return node if isinstance(node, exp.Query) else None


def _table_of(node: Any) -> tuple[exp.Table | None, list[str] | None]:
    """A target as written: a table, or a table with a column list (``t (a, b)``)."""
    if isinstance(node, exp.Schema) and isinstance(node.this, exp.Table):
        return node.this, [e.name for e in node.expressions]
    if isinstance(node, exp.Table):
        return node, None
    return None, None


class _Script:
    def __init__(self, names: _Names, known: dict[TableKey, list[str]]) -> None:
        self.names = names
        self.known = known

    # planning ----------------------------------------------------------------------------

    def plan(self, stmt: exp.Expr) -> _Plan:
        if isinstance(stmt, exp.Insert):
            return self._plan_insert(stmt)
        if isinstance(stmt, exp.MultitableInserts):
            return self._plan_multitable(stmt)
        if isinstance(stmt, exp.Create):
            return self._plan_create(stmt)
        if isinstance(stmt, exp.Merge):
            return self._plan_merge(stmt)
        if isinstance(stmt, exp.Update):
            return self._plan_update(stmt)
        if isinstance(stmt, exp.Select) and isinstance(stmt.args.get("into"), exp.Into):
            return self._plan_select_into(stmt)
        if isinstance(stmt, (exp.Query, exp.Subquery)):
            return _Plan("SELECT", [], stmt)
        if isinstance(stmt, exp.Drop):
            table = stmt.this
            if isinstance(table, exp.Table):
                self.known.pop(self.names.key(table), None)
        if isinstance(stmt, exp.Command):
            raise _Skip(
                None,
                "sqlglot does not understand this statement in this dialect (read as an opaque "
                "command)",
            )
        if isinstance(stmt, exp.Delete):
            raise _Skip(None, "DELETE removes rows; it moves no data between tables")
        raise _Skip(None, "this kind of statement moves no data between tables")

    def _key(self, table: exp.Table) -> TableKey:
        return self.names.key(table)

    def _plan_insert(self, stmt: exp.Insert) -> _Plan:
        kind = "INSERT OVERWRITE" if stmt.args.get("overwrite") else "INSERT"
        table, listed = _table_of(stmt.this)
        if table is None:
            raise _Skip(kind, "the INSERT target is not a table (e.g. INSERT INTO FUNCTION)")
        target = self._key(table)
        query = _query_of(stmt.expression)
        if query is None:
            return _Plan(kind, [target], None)
        query = _with_ctes(query, stmt.args.get("with_"))
        name = self.names.qualified(target)
        by_name = bool(stmt.args.get("by_name"))
        columns = listed if listed is not None else self.known.get(target)
        if columns is not None and listed is None:
            # Static partition values (PARTITION (dt = '...')) are not in the query.
            partition = table.args.get("partition")
            if isinstance(partition, exp.Partition):
                static = {e.this.name for e in partition.expressions if isinstance(e, exp.EQ)}
                columns = [c for c in columns if c not in static]

        def mapping(qualified: exp.Query) -> tuple[list[_Assign], list[str]]:
            selects = qualified.selects
            if by_name:
                allowed = None if columns is None else set(columns)
                return [
                    _Assign(target, p.alias_or_name, p.alias_or_name)
                    for p in selects
                    if not _is_star(p) and (allowed is None or p.alias_or_name in allowed)
                ], []
            if any(_is_star(p) for p in selects):
                return [], [
                    f"the query selects a star whose columns are unknown, so its columns cannot "
                    f"be matched to those of {name}: column lineage is not reported"
                ]
            if columns is None:
                return [], [
                    f"the columns of {name} are unknown (give them in `schema`): column lineage "
                    "is not reported"
                ]
            if len(columns) != len(selects):
                return [], [
                    f"the query gives {len(selects)} values for the {len(columns)} columns of "
                    f"{name}: column lineage is not reported"
                ]
            return [_Assign(target, c, i) for i, c in enumerate(columns)], []

        return _Plan(kind, [target], query, mapping=mapping)

    def _plan_multitable(self, stmt: exp.MultitableInserts) -> _Plan:
        kind = f"INSERT {str(stmt.args.get('kind') or 'ALL').upper()}"
        source = _query_of(stmt.args.get("source"))
        if source is None:
            raise _Skip(kind, "the multi-table INSERT has no query")
        projections: list[exp.Expr] = []
        assigns: list[_Assign] = []
        targets: list[TableKey] = []
        warnings: list[str] = []
        conditions: list[int] = []
        for branch in stmt.expressions:
            if not isinstance(branch, exp.ConditionalInsert):
                continue
            insert = branch.this
            condition = branch.args.get("expression")
            own: tuple[int, ...] = ()
            if isinstance(condition, exp.Expr):
                own = (len(projections),)
                conditions.append(len(projections))
                projections.append(condition.copy())
            elif branch.args.get("else_"):
                own = tuple(conditions)  # ELSE: decided by every WHEN before it
            if not isinstance(insert, exp.Insert):
                continue
            table, listed = _table_of(insert.this)
            if table is None:
                continue
            target = self._key(table)
            targets.append(target)
            columns = listed if listed is not None else self.known.get(target)
            values = insert.expression
            rows = values.expressions if isinstance(values, exp.Values) else []
            exprs = rows[0].expressions if rows and isinstance(rows[0], exp.Tuple) else None
            if exprs is None:
                # INTO t without VALUES inserts the query's columns in order.
                exprs = [exp.column(n) for n in source.named_selects if n != "*"]
            if columns is None or len(columns) != len(exprs):
                warnings.append(
                    f"the columns of {self.names.qualified(target)} cannot be matched to the "
                    "inserted values: column lineage is not reported for it"
                )
                continue
            for column, value in zip(columns, exprs, strict=True):
                assigns.append(_Assign(target, column, len(projections), own))
                projections.append(value.copy())
        select = exp.Select(expressions=projections or [exp.Literal.number(1)])
        select.set(
            "from_",
            exp.From(
                this=exp.Subquery(
                    this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier("hw__source"))
                )
            ),
        )
        _with_ctes(select, stmt.args.get("with_"))
        return _Plan(kind, list(dict.fromkeys(targets)), select, assigns, warnings=warnings)

    def _plan_create(self, stmt: exp.Create) -> _Plan:
        create_kind = str(stmt.args.get("kind") or "").upper()
        properties = stmt.args.get("properties")
        materialized = isinstance(properties, exp.Properties) and any(
            isinstance(p, exp.MaterializedProperty) for p in properties.expressions
        )
        kind = f"CREATE {'MATERIALIZED ' if materialized else ''}{create_kind}".strip()
        table, listed = _table_of(stmt.this)
        query = _query_of(stmt.expression)
        if create_kind not in ("TABLE", "VIEW") or table is None:
            raise _Skip(kind, f"{kind} moves no data between tables")
        target = self._key(table)
        clone = stmt.args.get("clone")
        if query is None and isinstance(clone, exp.Clone) and isinstance(clone.this, exp.Table):
            # A clone copies the source's rows: lineage as of CREATE TABLE ... AS SELECT *.
            kind = f"{kind} CLONE"
            query = exp.select("*").from_(clone.this.copy())
        elif query is None:
            like = next(
                (
                    p.this
                    for p in (
                        properties.expressions if isinstance(properties, exp.Properties) else []
                    )
                    if isinstance(p, exp.LikeProperty) and isinstance(p.this, exp.Table)
                ),
                None,
            )
            if listed:
                self.known[target] = listed
            elif like is not None and self._key(like) in self.known:
                self.known[target] = list(self.known[self._key(like)])
            else:
                self.known.pop(target, None)
            raise _Skip(
                kind,
                "a CREATE without a query moves no data; the columns it declares are used by "
                "later statements",
            )
        if create_kind == "TABLE" and not kind.endswith("CLONE"):
            kind = "CREATE TABLE AS"
        query = _with_ctes(query, stmt.args.get("with_"))
        name = self.names.qualified(target)

        def mapping(qualified: exp.Query) -> tuple[list[_Assign], list[str]]:
            selects = qualified.selects
            if listed is not None:
                if any(_is_star(p) for p in selects) or len(listed) != len(selects):
                    return [], [
                        f"the query's columns cannot be matched to the column list of {name}: "
                        "column lineage is not reported"
                    ]
                return [_Assign(target, c, i) for i, c in enumerate(listed)], []
            # By position while no star precedes (duplicate names stay apart), else by name.
            assigns = [
                _Assign(
                    target,
                    p.alias_or_name,
                    i if not any(_is_star(q) for q in selects[:i]) else p.alias_or_name,
                )
                for i, p in enumerate(selects)
                if not _is_star(p)
            ]
            if len(assigns) != len(selects):
                return assigns, [
                    f"the query selects a star whose columns are unknown: only the columns it "
                    f"names explicitly are reported, and the columns of {name} stay unknown"
                ]
            return assigns, []

        return _Plan(kind, [target], query, mapping=mapping, remember=target)

    def _plan_select_into(self, stmt: exp.Select) -> _Plan:
        into = stmt.args["into"]
        table = into.this
        if not isinstance(table, exp.Table):
            raise _Skip("SELECT INTO", "SELECT INTO a variable moves no data between tables")
        query = stmt.copy()
        query.set("into", None)
        plan = self._plan_create(exp.Create(this=table.copy(), kind="TABLE", expression=query))
        plan.kind = "SELECT INTO"
        return plan

    def _plan_merge(self, stmt: exp.Merge) -> _Plan:
        table = stmt.this
        using = stmt.args.get("using")
        if not isinstance(table, exp.Table) or not isinstance(using, exp.Expr):
            raise _Skip("MERGE", "the MERGE target or source is not a table or query")
        target = self._key(table)
        marked = table.copy()
        marked.meta["hw_target"] = True
        source = using.copy()
        projections: list[exp.Expr] = []
        assigns: list[_Assign] = []
        warnings: list[str] = []
        whens = stmt.args.get("whens")
        for when in whens.expressions if isinstance(whens, exp.Whens) else []:
            then = when.args.get("then")
            condition = when.args.get("condition")
            # WHEN NOT MATCHED [BY TARGET] sees only the source row: bare names are its own.
            sees_source_only = not when.args.get("matched") and not when.args.get("source")
            conditions: tuple[int, ...] = ()
            if isinstance(condition, exp.Expr):
                conditions = (len(projections),)
                projections.append(
                    _qualified_by(condition, source.alias_or_name)
                    if sees_source_only
                    else condition.copy()
                )
            pairs: list[tuple[str, exp.Expr]] = []
            if isinstance(then, exp.Update):
                # sqlglot reads Databricks' UPDATE SET * as a list holding a star, and the
                # malformed UPDATE * as a bare star.
                updates = then.args.get("expressions")
                for eq in updates if isinstance(updates, list) else [updates]:
                    if isinstance(eq, exp.Star):
                        pairs += self._merge_star(target, source, warnings)
                    elif isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                        pairs.append((eq.this.name, eq.expression))
            elif isinstance(then, exp.Insert):
                if isinstance(then.this, exp.Star):
                    pairs += self._merge_star(target, source, warnings)
                else:
                    columns: exp.Expr | None = then.this
                    values: exp.Expr | None = then.expression
                    call = (
                        columns.expressions[0]
                        if isinstance(columns, exp.Tuple) and len(columns.expressions) == 1
                        else None
                    )
                    if isinstance(call, exp.Anonymous) and call.name.upper() == "VALUES":
                        # Redshift and BigQuery read INSERT VALUES (...) as a call to VALUES.
                        columns, values = None, exp.Tuple(expressions=call.expressions)
                    listed = (
                        [c.name for c in columns.expressions]
                        if isinstance(columns, exp.Tuple)
                        else self.known.get(target)
                    )
                    exprs = values.expressions if isinstance(values, exp.Tuple) else []
                    if listed is None or len(listed) != len(exprs):
                        warnings.append(
                            "the columns of a WHEN NOT MATCHED INSERT cannot be matched to its "
                            "values: its column lineage is not reported"
                        )
                    else:
                        pairs += list(zip(listed, exprs, strict=True))
            for column, value in pairs:
                assigns.append(_Assign(target, column, len(projections), conditions))
                projections.append(
                    _qualified_by(value, source.alias_or_name) if sees_source_only else value.copy()
                )
        select = exp.Select(expressions=projections or [exp.Literal.number(1)])
        select.set("from_", exp.From(this=source))
        on = stmt.args.get("on")
        join = exp.Join(this=marked, on=on.copy() if isinstance(on, exp.Expr) else None)
        select.set("joins", [join])
        _with_ctes(select, stmt.args.get("with_"))
        return _Plan("MERGE", [target], select, assigns, warnings=warnings)

    def _merge_star(
        self, target: TableKey, source: exp.Expr, warnings: list[str]
    ) -> list[tuple[str, exp.Expr]]:
        """``UPDATE SET *`` / ``INSERT *``: every column of the source, into its namesake."""
        columns = self.known.get(target)
        if columns is None and isinstance(source, exp.Table):
            columns = self.known.get(self._key(source))
        if columns is None and isinstance(source, exp.Subquery):
            inner = source.unnest()
            if isinstance(inner, exp.Query) and not any(_is_star(s) for s in inner.selects):
                columns = list(inner.named_selects)
        if columns is None:
            warnings.append(
                "UPDATE SET * / INSERT * over columns that are unknown: their lineage is not "
                "reported"
            )
            return []
        alias = source.alias_or_name
        return [(c, exp.column(c, table=alias)) for c in columns]

    def _plan_update(self, stmt: exp.Update) -> _Plan:
        table = stmt.this
        if not isinstance(table, exp.Table):
            raise _Skip("UPDATE", "the UPDATE target is not a table")
        target = self._key(table)
        marked = table.copy()
        own_joins = marked.args.get("joins") or []
        marked.set("joins", None)
        marked.meta["hw_target"] = True
        projections: list[exp.Expr] = []
        assigns: list[_Assign] = []
        for eq in stmt.expressions:
            if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                assigns.append(_Assign(target, eq.this.name, len(projections)))
                projections.append(eq.expression.copy())
        select = exp.Select(expressions=projections or [exp.Literal.number(1)])
        from_ = stmt.args.get("from_")
        if isinstance(from_, exp.From):
            relation = from_.this.copy()
            joins = list(relation.args.get("joins") or [])
            relation.set("joins", None)
            # T-SQL names the target again in FROM (UPDATE x ... FROM t AS x JOIN s ...).
            named = [relation, *(j.this for j in joins)]
            alias = table.alias_or_name
            repeated = [t for t in named if isinstance(t, exp.Table) and t.alias_or_name == alias]
            for repeat in repeated:
                repeat.meta["hw_target"] = True
            if repeated:
                target = self._key(repeated[0])
                assigns = [_Assign(target, a.column, a.ref) for a in assigns]
            else:
                joins.append(exp.Join(this=marked))
            select.set("from_", exp.From(this=relation))
            select.set("joins", joins)
        else:
            select.set("from_", exp.From(this=marked))
            select.set("joins", [j.copy() for j in own_joins] or None)
        where = stmt.args.get("where")
        if isinstance(where, exp.Where):
            select.set("where", where.copy())
        _with_ctes(select, stmt.args.get("with_"))
        return _Plan("UPDATE", [target], select, assigns)

    # analysis ----------------------------------------------------------------------------

    def _schema(self) -> MappingSchema:
        nested: dict[str, Any] = {}
        for (catalog, schema, table), columns in self.known.items():
            nested.setdefault(catalog, {}).setdefault(schema, {})[table] = {
                c: "UNKNOWN" for c in columns
            }
        return MappingSchema(nested, dialect=self.names.dialect, normalize=False)

    def _qualify(self, query: exp.Expr) -> tuple[exp.Expr, str | None]:
        """sqlglot's ``qualify`` in its steps, with fallbacks where it refuses to guess.

        Without the sources' columns, sqlglot will not decide whether an unqualified name in a
        subquery is local or correlated, nor whether ``GROUP BY day`` names an alias or a
        column. SQL resolves a name in the innermost scope first, so unqualified columns of a
        subquery reading one source of unknown columns are given that source; failing that,
        aliases are left unexpanded (the walk resolves them), and as a last resort columns are
        left unqualified (the walk attributes them where only one source can have them).
        """
        for table in query.find_all(exp.Table):
            if not table.args.get("db") and not table.args.get("catalog"):
                table.meta["hw_bare"] = True
        names = self.names
        schema = self._schema()

        def on_qualify(table: exp.Table) -> None:
            key = names.key(table)
            if key[2].startswith("#"):
                # A temporary table: named as the schema mapping knows it, in no schema.
                table.set("this", exp.to_identifier(key[2], quoted=True))
                table.set("db", names.no_schema.copy())
                table.set("catalog", names.no_catalog.copy())
            elif table.meta.get("hw_bare") and not names.has_default_schema:
                # qualify gives a bare table the default catalog too; without a default schema
                # that would read as "catalog.table", so it keeps no catalog.
                table.set("catalog", names.no_catalog.copy())

        def tables_qualified() -> exp.Expr:
            expression = normalize_identifiers(
                query.copy(), dialect=names.dialect, store_original_column_identifiers=True
            )
            expression = qualify_tables(
                expression,
                db=names.schema.copy(),
                catalog=names.catalog.copy(),
                dialect=names.dialect,
                on_qualify=on_qualify,
            )
            self._qualify_innermost(expression)
            return expression

        for expand_alias_refs in (True, False):
            try:
                qualified: exp.Expr = qualify_columns(
                    tables_qualified(), schema, expand_alias_refs=expand_alias_refs
                )
                return qualified, None
            except OptimizeError:
                continue
            except AssertionError as error:
                # sqlglot checks its own invariants with AssertionError (assert_is): a tree it
                # cannot qualify at all, a positional GROUP BY over a star for one.
                raise OptimizeError(_readable(str(error))) from error
        return tables_qualified(), (
            "sqlglot could not qualify the columns without the tables' columns (give them in "
            "`schema`): stars are not expanded and ambiguous columns are not reported"
        )

    def _qualify_innermost(self, expression: exp.Expr) -> None:
        for scope in traverse_scope(expression):
            if not scope.can_be_correlated or len(scope.selected_sources) != 1:
                continue
            ((alias, (_, source)),) = scope.selected_sources.items()
            if _source_columns(source, self.known, self.names) is not None:
                continue  # qualify_columns knows whether the name is local or correlated
            for column in scope.unqualified_columns:
                column.set("table", exp.to_identifier(alias))

    def analyse(self, stmt: exp.Expr, chunk: _Chunk) -> StatementLineage:
        def result(kind: str, **values: Any) -> StatementLineage:
            return StatementLineage(
                index=chunk.index, line=chunk.line, column=chunk.column, kind=kind, **values
            )

        normalize_identifiers(stmt, dialect=self.names.dialect)
        first_word = chunk.tokens[0].text.upper()
        try:
            plan = self.plan(stmt)
        except _Skip as skip:
            return result(
                skip.kind or first_word, status=StatementStatus.SKIPPED, reason=skip.reason
            )

        warnings: dict[str, None] = dict.fromkeys(plan.warnings)
        reads: set[TableKey] = set()
        edges: set[tuple[Origin, Origin, TransformationSubtype]] = set()
        remembered: list[str] | None = None
        try:
            if plan.query is not None:
                qualified, degraded = self._qualify(plan.query)
                if degraded:
                    warnings.setdefault(degraded)
                root = build_scope(qualified)
                if root is None or not isinstance(qualified, exp.Query):
                    raise _Skip(plan.kind, "its query could not be scoped")
                resolver = _Resolver(root, self.names, self.known, warnings.setdefault)
                reads = resolver.reads()
                assigns = plan.assigns
                if plan.mapping is not None:
                    assigns, incomplete = plan.mapping(qualified)
                    warnings.update(dict.fromkeys(incomplete))
                    if not incomplete:
                        remembered = [a.column for a in assigns]
                edges = self._edges(resolver, root, assigns, warnings)
        except _Skip as skip:
            return result(
                skip.kind or first_word, status=StatementStatus.SKIPPED, reason=skip.reason
            )
        except SqlglotError as error:
            return result(
                plan.kind,
                status=StatementStatus.SKIPPED,
                reason=f"sqlglot could not analyse it: {error}",
            )
        finally:
            # A table created from a query whose columns are not all known has unknown columns.
            if plan.remember is not None:
                if remembered is not None:
                    self.known[plan.remember] = remembered
                else:
                    self.known.pop(plan.remember, None)

        q = self.names.qualified
        d = self.names.display
        targets = plan.targets
        return result(
            plan.kind,
            status=StatementStatus.ANALYSED,
            inputs=sorted({q(k) for k in reads}),
            outputs=sorted({q(k) for k in targets}),
            table_edges=sorted(
                {TableEdge(source=q(s), target=q(t)) for s in reads for t in targets if s != t},
                key=_table_edge_key,
            ),
            column_edges=sorted(
                {
                    ColumnEdge(
                        source=ColumnRef(table=q(src[0]), column=d(src[1])),
                        target=ColumnRef(table=q(dst[0]), column=d(dst[1])),
                        subtype=kind,
                    )
                    for src, dst, kind in edges
                },
                key=_column_edge_key,
            ),
            warnings=list(warnings),
        )

    def _edges(
        self,
        resolver: _Resolver,
        root: Scope,
        assigns: Sequence[_Assign],
        warnings: dict[str, None],
    ) -> set[tuple[Origin, Origin, TransformationSubtype]]:
        edges: set[tuple[Origin, Origin, TransformationSubtype]] = set()
        for assign in assigns:
            found = resolver.output(root, assign.ref)
            if found is None:
                warnings.setdefault(
                    f"the sources of {self.names.qualified(assign.target)}."
                    f"{self.names.display(assign.column)} cannot be traced through a star whose "
                    "columns are unknown"
                )
                continue
            contributions = set(found)
            for condition in assign.conditions:
                contributions |= _composed(
                    _S.CONDITIONAL, resolver.output(root, condition) or _EMPTY
                )
            target: Origin = (assign.target, assign.column)
            edges |= {(origin, target, kind) for origin, kind in contributions if origin != target}
        return edges


def _table_edge_key(edge: TableEdge) -> tuple[str, str]:
    return (edge.source, edge.target)


_SUBTYPE_ORDER = {kind: i for i, kind in enumerate(TransformationSubtype)}


def _column_edge_key(edge: ColumnEdge) -> tuple[str, str, str, str, int]:
    return (
        edge.target.table,
        edge.target.column,
        edge.source.table,
        edge.source.column,
        _SUBTYPE_ORDER[edge.subtype],
    )


def extract_lineage(
    sql: str,
    dialect: str,
    *,
    default_catalog: str | None = None,
    default_schema: str | None = None,
    schema: Mapping[str, Sequence[str]] | None = None,
) -> SqlLineage:
    """The table- and column-level lineage of a SQL script; see the module documentation.

    >>> lineage = extract_lineage(
    ...     "INSERT INTO mart.totals SELECT id, SUM(amount) FROM raw.orders GROUP BY id",
    ...     "postgres",
    ...     schema={"mart.totals": ["id", "total"]},
    ... )
    >>> [(e.source.column, e.target.column, e.subtype.value) for e in lineage.column_edges]
    [('id', 'id', 'IDENTITY'), ('id', 'id', 'GROUP_BY'), ('amount', 'total', 'AGGREGATION'), \
('id', 'total', 'GROUP_BY')]
    """
    try:
        resolved = Dialect.get_or_raise(dialect)
    except (ValueError, SqlglotError) as error:
        raise Unprocessable(
            f"unknown SQL dialect {dialect!r}: {error}",
            errors=[{"loc": ["body", "dialect"], "msg": "unknown dialect"}],
        ) from error
    names = _Names(resolved, default_catalog, default_schema)
    known: dict[TableKey, list[str]] = {}
    for table, columns in (schema or {}).items():
        known[names.schema_key(table)] = [names.schema_column(c) for c in columns]

    chunks = _split(sql, resolved)
    parsed = [(chunk, _parse(sql, resolved, chunk)) for chunk in chunks]
    script = _Script(names, known)
    statements = [script.analyse(stmt, chunk) for chunk, stmt in parsed if stmt is not None]
    return SqlLineage(
        dialect=dialect,
        statements=statements,
        inputs=sorted({t for s in statements for t in s.inputs}),
        outputs=sorted({t for s in statements for t in s.outputs}),
        table_edges=sorted({e for s in statements for e in s.table_edges}, key=_table_edge_key),
        column_edges=sorted({e for s in statements for e in s.column_edges}, key=_column_edge_key),
    )
