---@meta lualchemy

-- LuaLS (lua-language-server) definitions of lualchemy's Lua API: editors complete and
-- type-check `require("lualchemy")` with them. Point the language server at this folder
-- (`"workspace.library": ["<lualchemy>/types"]` in .luarc.json). docs/API.md describes each
-- name; host/tests/lua_stubs.rs checks that these definitions and the module name the same
-- things.

---An expression operand: a SQL expression or a plain Lua value (bound as a parameter).
---@alias lualchemy.Operand lualchemy.ColumnElement|lualchemy.ColumnSpec|lualchemy.Null|string|number|boolean|nil

---A column as `table.columns` lists it.
---@class lualchemy.ColumnInfo
---@field name string
---@field key string
---@field type lualchemy.TypeEngine
---@field primary_key boolean
---@field nullable boolean
---@field expr lualchemy.ColumnElement

---A column as `orm.inspect(Model).columns` and `.primary_key` list it.
---@class lualchemy.MapperColumn
---@field name string
---@field key string the attribute's key
---@field type lualchemy.TypeEngine
---@field primary_key boolean
---@field nullable boolean
---@field expression lualchemy.ColumnElement

---A relationship as `orm.inspect(Model).relationships` lists it (by position and by key).
---@class lualchemy.RelationshipInfo
---@field key string
---@field target lualchemy.Model
---@field direction "ONETOMANY"|"MANYTOONE"|"MANYTOMANY"
---@field uselist boolean
---@field secondary? string
---@field back_populates? string
---@field lazy string
---@field cascade table<string, boolean> each cascade by name ("save-update", "delete", ...): on or off
---@field viewonly boolean
---@field post_update boolean
---@field passive_deletes boolean

---Something `orm.select` and `:join` accept: a model, an alias, a column expression, a subquery.
---@alias lualchemy.Selectable lualchemy.Model|lualchemy.Aliased|lualchemy.ColumnElement|lualchemy.Subquery|lualchemy.Table

---A statement sessions and connections execute.
---@alias lualchemy.Executable lualchemy.Select|lualchemy.Insert|lualchemy.DML|lualchemy.TextClause

-- ---------------------------------------------------------------------------------------
-- The module
-- ---------------------------------------------------------------------------------------

---@class lualchemy
---@field _VERSION string the crate's version, e.g. "0.1.0"
---@field Error lualchemy.ErrorKinds the error kinds by name, and `orm.Error.is(err, kind)`
---@field event lualchemy.event
---@field migrate lualchemy.migrate the migration commands, also `require("lualchemy.migrate")` (docs/MIGRATIONS.md)
---@field func lualchemy.func SQL functions by name: `orm.func.count()`, `orm.func.lower(User.name)`
---@field sqlite lualchemy.DialectModule `orm.sqlite.insert(Model)`: INSERT ... ON CONFLICT (SQLite)
---@field postgresql lualchemy.DialectModule `orm.postgresql.insert(Model)`: INSERT ... ON CONFLICT (PostgreSQL)
---@field mysql lualchemy.DialectModule `orm.mysql.insert(Model)`: INSERT ... ON DUPLICATE KEY UPDATE (MySQL, MariaDB)
---@field Integer lualchemy.TypeEngine
---@field BigInteger lualchemy.TypeEngine
---@field SmallInteger lualchemy.TypeEngine
---@field String lualchemy.TypeEngine call it with a length: `orm.String(50)`
---@field Text lualchemy.TypeEngine
---@field Float lualchemy.TypeEngine
---@field Numeric lualchemy.TypeEngine call it with precision and scale: `orm.Numeric(10, 2)`
---@field Boolean lualchemy.TypeEngine
---@field ConcreteBase lualchemy.ConcreteMarker in a base's `__mixins__`: the base of a concrete-table hierarchy, with its own table (subclasses: `__mapper_args__ = { concrete = true }`, whole tables of their own; a query of the base reads their UNION ALL)
---@field AbstractConcreteBase lualchemy.ConcreteMarker as `ConcreteBase`, for a base with no table: its columns are copied into each subclass's table; not instantiable, only queried
---@field Date lualchemy.TypeEngine
---@field DateTime lualchemy.TypeEngine
---@field Time lualchemy.TypeEngine
---@field LargeBinary lualchemy.TypeEngine
---@field JSON lualchemy.TypeEngine
---@field Enum lualchemy.TypeEngine call it with the values: `orm.Enum("draft", "published")`
local orm = {}

---Opens an engine: `"sqlite://"` (in memory), `"sqlite:///rel.db"`, `"sqlite:////abs.db"`,
---`"postgresql://user:pass@host:port/db"`, `"mysql://..."` / `"mariadb://..."`.
---@param url string
---@param options? lualchemy.EngineOptions
---@return lualchemy.Engine
function orm.create_engine(url, options) end

---A new session: `orm.Session(engine)` or `orm.Session{ bind = engine, autoflush = false }`;
---bound to a connection, `orm.Session(conn, { join_transaction_mode = "create_savepoint" })`
---joins the transaction the connection is in.
---@param bind? lualchemy.Engine|lualchemy.Connection|lualchemy.SessionOptions
---@param options? lualchemy.SessionOptions
---@return lualchemy.Session
function orm.Session(bind, options) end

---A session factory: `local Session = orm.sessionmaker{ bind = engine }; local s = Session()`.
---@param options? lualchemy.SessionOptions
---@return lualchemy.SessionMaker
function orm.sessionmaker(options) end

---One session per scope (SQLAlchemy's scoped_session): by default per coroutine (the
---main thread included); `scopefunc` returns the current scope's key instead. The value
---proxies the session methods (`Session:add(x)`), and `Session()` is the scope's session.
---@param factory lualchemy.SessionMaker|fun(...): lualchemy.Session
---@param options? { scopefunc?: fun(): any }
---@return lualchemy.ScopedSession
function orm.scoped_session(factory, options) end

---A declarative base: `Base:model(name, spec)` declares models on it.
---@param options? { metadata?: lualchemy.MetaData, type_annotation_map?: table<string, lualchemy.TypeEngine> }
---@return lualchemy.DeclarativeBase
function orm.declarative_base(options) end

---`orm.ConcreteBase` / `orm.AbstractConcreteBase`, listed in a base model's `__mixins__`:
---concrete-table inheritance (docs/inheritance.md).
---@class lualchemy.ConcreteMarker

---@return lualchemy.MetaData
function orm.MetaData() end

---A column: `orm.Column(orm.Integer, { primary_key = true })`; a leading string names it
---(`orm.Column("user_id", orm.Integer, orm.ForeignKey("users.id"))`); a lone ForeignKey
---gives it the referenced column's type.
---@param ... string|lualchemy.TypeEngine|lualchemy.ForeignKey|lualchemy.ColumnOptions
---@return lualchemy.ColumnSpec
function orm.Column(...) end

---A column typed by annotation name: `"int"`, `"str"`, `"str?"` (nullable), ... resolved
---through the base's `type_annotation_map`.
---@param annotation string
---@param options? lualchemy.ColumnOptions
---@return lualchemy.ColumnSpec
function orm.Mapped(annotation, options) end

---@param target string "table.column"
---@param options? { ondelete?: string, onupdate?: string }
---@return lualchemy.ForeignKey
function orm.ForeignKey(target, options) end

---A plain table (association tables): `orm.Table(name, metadata, orm.Column("id", ...), ...)`;
---`orm.Table(name, metadata, { autoload_with = engine })` reads it from the database.
---@param name string
---@param metadata lualchemy.MetaData
---@param ... lualchemy.ColumnSpec|lualchemy.SchemaItem|{ comment?: string, info?: table, autoload_with?: lualchemy.Engine }
---@return lualchemy.Table
function orm.Table(name, metadata, ...) end

---@param ... string|{ name?: string } column names, then options
---@return lualchemy.SchemaItem
function orm.UniqueConstraint(...) end

---@param ... string|{ name?: string } column names, then options
---@return lualchemy.SchemaItem
function orm.PrimaryKeyConstraint(...) end

---@param sqltext string
---@param options? { name?: string }
---@return lualchemy.SchemaItem
function orm.CheckConstraint(sqltext, options) end

---@param columns string[]
---@param refcolumns string[] "table.column" each
---@param options? { name?: string, ondelete?: string, onupdate?: string }
---@return lualchemy.SchemaItem
function orm.ForeignKeyConstraint(columns, refcolumns, options) end

---@param name string
---@param ... string|{ unique?: boolean } column names, then options
---@return lualchemy.SchemaItem
function orm.Index(name, ...) end

---@param table lualchemy.Table
---@return lualchemy.CreateTable
function orm.CreateTable(table) end

---`orm.inspect(Model)` is its Mapper; `orm.inspect(obj)` the object's state;
---`orm.inspect(engine)` an Inspector of the database's tables.
---@overload fun(target: lualchemy.Model): lualchemy.Mapper
---@overload fun(target: lualchemy.Instance): lualchemy.InstanceState
---@overload fun(target: lualchemy.Engine): lualchemy.Inspector
---@param target any
---@return lualchemy.Mapper|lualchemy.InstanceState|lualchemy.Inspector
function orm.inspect(target) end

---SQLAlchemy's automap: `Base:prepare(engine)` maps a class per reflected table.
---@return lualchemy.AutomapBase
function orm.automap_base() end

---@param target string|lualchemy.Model class name or model
---@param options? lualchemy.RelationshipOptions
---@return lualchemy.RelationshipProperty
function orm.relationship(target, options) end

---@param name string
---@param options? lualchemy.RelationshipOptions
---@return lualchemy.Backref
function orm.backref(name, options) end

---Criteria selecting the objects related to `obj` through `attr`.
---@param obj lualchemy.Instance
---@param attr lualchemy.RelationshipAttribute
---@return lualchemy.ColumnElement
function orm.with_parent(obj, attr) end

---A dictionary collection keyed by the members' attribute `name` (`collection_class`).
---@param name string
---@return lualchemy.CollectionClass
function orm.attribute_keyed_dict(name) end

---A dictionary collection keyed by the members' column attribute.
---@param col lualchemy.ColumnElement
---@return lualchemy.CollectionClass
function orm.column_keyed_dict(col) end

---A dictionary collection keyed by what `fn` returns for each member.
---@param fn fun(member: lualchemy.Instance): any
---@return lualchemy.CollectionClass
function orm.keyfunc_mapping(fn) end

---In a relationship's `primaryjoin`: this column is the foreign key side (SQLAlchemy's
---`foreign()`); as SQL, the column itself.
---@param col lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function orm.foreign(col) end

---In a relationship's `primaryjoin`: this column is the target's side (SQLAlchemy's
---`remote()`), which tells the two sides of a self-referential join apart.
---@param col lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function orm.remote(col) end

---@param getter fun(self: lualchemy.Instance): any
---@return lualchemy.Hybrid
function orm.hybrid_property(getter) end

---An attribute that reads and writes `attr` of the objects the relationship
---`target_collection` holds (SQLAlchemy's association proxy): a list of values through a
---collection, the related object's value through a scalar relationship. `creator(value)`
---makes a new related object (default: `Target{ [attr] = value }`).
---@param target_collection string
---@param attr string
---@param options? { creator?: fun(value: any): lualchemy.Instance }
---@return lualchemy.Hybrid
function orm.association_proxy(target_collection, attr, options) end

---@param fn fun(self: lualchemy.Instance, ...): any
---@return lualchemy.Hybrid
function orm.hybrid_method(fn) end

---A read-only attribute loaded from a SQL expression.
---@param expr lualchemy.ColumnElement|lualchemy.ColumnSpec
---@return lualchemy.ColumnProperty
function orm.column_property(expr) end

---Another name for the attribute `name`.
---@param name string
---@return lualchemy.Synonym
function orm.synonym(name) end

---A type whose values pass through your functions (SQLAlchemy's `TypeDecorator`):
---`orm.TypeDecorator{ impl = orm.String(100), process_bind_param = fn, process_result_value = fn }`.
---@param spec lualchemy.TypeDecoratorSpec
---@return lualchemy.TypeEngine
function orm.TypeDecorator(spec) end

---Several columns as one value: `orm.composite(Point, "x", "y")` (attribute names or the spec's
---`orm.Column` values). `Point(x, y)` builds the value; `value:__composite_values__()` (or its
---fields named like the columns) gives the columns back.
---@param class function|table a callable making the value from the column values
---@param ... string|lualchemy.ColumnSpec
---@return lualchemy.Composite
function orm.composite(class, ...) end

---@param ... lualchemy.Selectable
---@return lualchemy.Select
function orm.select(...) end

---@param model lualchemy.Model
---@return lualchemy.Insert
function orm.insert(model) end

---@param model lualchemy.Model
---@return lualchemy.DML
function orm.update(model) end

---@param model lualchemy.Model
---@return lualchemy.DML
function orm.delete(model) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function orm.and_(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function orm.or_(...) end

---@param expr lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function orm.not_(expr) end

---SQL text; `:name` marks a named parameter.
---@param sql string
---@return lualchemy.TextClause
function orm.text(sql) end

---SQL NULL where a Lua table cannot hold `nil`.
---@return lualchemy.Null
function orm.null() end

---SQL `true` (`select:join(lateral, orm.true_())`).
---@return lualchemy.ColumnElement
function orm.true_() end

---SQL `false`.
---@return lualchemy.ColumnElement
function orm.false_() end

---A value as a bound parameter.
---@param value any
---@return lualchemy.ColumnElement
function orm.literal(value) end

---A piece of SQL text used as a column.
---@param text string
---@param type? lualchemy.TypeEngine
---@return lualchemy.ColumnElement
function orm.literal_column(text, type) end

---@param expr lualchemy.Operand
---@return lualchemy.ColumnElement
function orm.distinct(expr) end

---@param expr lualchemy.Operand
---@param type lualchemy.TypeEngine
---@return lualchemy.ColumnElement
function orm.cast(expr, type) end

---`orm.case({ cond, value }, ..., { else_ = v })`.
---@param ... table
---@return lualchemy.ColumnElement
function orm.case(...) end

---`orm.tuple_(a, b, ...)`: a row value, compared with `:eq({...})` or tested with
---`:in_({ {a1, b1}, {a2, b2} })`.
---@param ... lualchemy.Operand
---@return lualchemy.ColumnElement
function orm.tuple_(...) end

---`orm.values(orm.Column("a", orm.Integer), ..., { name = "v" })`: literal rows as a FROM
---item once given `:data{ {1, "x"}, ... }`.
---@param ... lualchemy.ColumnSpec|{ name?: string }
---@return lualchemy.Values
function orm.values(...) end

---`orm.values(...)` waiting for its rows.
---@class lualchemy.Values
local Values = {}

---@param rows any[][]
---@return lualchemy.Subquery
function Values:data(rows) end

---`orm.exists(stmt)`, or `orm.exists()` narrowed with `:where(...)`.
---@param ... lualchemy.Select|lualchemy.Selectable
---@return lualchemy.ColumnElement
function orm.exists(...) end

---An alias of a model for self-joins; given a subquery, the entity read from it.
---@param model lualchemy.Model|lualchemy.Aliased
---@param name? string|lualchemy.Subquery
---@return lualchemy.Aliased
function orm.aliased(model, name) end

---A single-table hierarchy's base selected with the named subclasses' columns (`"*"`: all
---of them) in the same row: `orm.select(orm.with_polymorphic(Unit, { Archer }))`.
---@param model lualchemy.Model
---@param classes lualchemy.Model[]|"*"
---@return lualchemy.WithPolymorphic
function orm.with_polymorphic(model, classes) end

---A loader option: the named subclasses' columns of the objects a query of `model` returns
---load by one `SELECT ... WHERE id IN (...)` per subclass.
---@param model lualchemy.Model
---@param classes lualchemy.Model[]|"*"
---@return lualchemy.Load
function orm.selectin_polymorphic(model, classes) end

---`orm.with_polymorphic(Unit, { Archer })`: selected like `Unit`; `.Archer` is the
---subclass, `.name` the base's attribute.
---@class lualchemy.WithPolymorphic
---@field [string] lualchemy.ColumnElement|lualchemy.Model

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function orm.joinedload(...) end

---The relationships (a path), or `"*"`; a last table `{ recursion_depth = n }` loads a
---self-referential relationship `n` levels more (-1: until a level finds nothing).
---@param ... lualchemy.RelationshipAttribute|string|{ recursion_depth?: integer }
---@return lualchemy.Load
function orm.selectinload(...) end

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function orm.lazyload(...) end

---@param ... lualchemy.RelationshipAttribute|string `"*"` for every relationship
---@return lualchemy.Load
function orm.raiseload(...) end

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function orm.noload(...) end

---@param ... lualchemy.RelationshipAttribute|lualchemy.Aliased
---@return lualchemy.Load
function orm.contains_eager(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.Load
function orm.load_only(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.Load
function orm.defer(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.Load
function orm.undefer(...) end

---The value a listener or validator raised, from the error that carried it, and whether
---there was one.
---@param err any
---@return any value
---@return boolean found
function orm._raised(err) end

-- ---------------------------------------------------------------------------------------
-- Option tables
-- ---------------------------------------------------------------------------------------

---@class lualchemy.EngineOptions
---@field echo? boolean|fun(sql: string, params: table) print every statement, or receive it
---@field pool_size? integer
---@field future? boolean
---@field sqlite_begin? "deferred"|"immediate"|"exclusive"
---@field connect_args? { timeout?: number, connect_timeout?: number, check_same_thread?: boolean }

---@class lualchemy.SessionOptions
---@field bind? lualchemy.Engine|lualchemy.Connection
---How a session bound to a connection joins the transaction the connection is in
---(SQLAlchemy 2.0's; default "conditional_savepoint").
---@field join_transaction_mode? "conditional_savepoint"|"create_savepoint"|"rollback_only"|"control_fully"
---@field autoflush? boolean
---@field expire_on_commit? boolean
---@field close_resets_only? boolean
---@field autobegin? boolean
---@field info? table
---Per-mapper engines: `{ [User] = engine1, [Base] = engine2, [users_table] = engine3 }`
---(a model, an abstract model, a declarative base or a Table), as SQLAlchemy's `binds`.
---@field binds? table<any, lualchemy.Engine>

---@class lualchemy.ColumnOptions
---@field primary_key? boolean
---@field nullable? boolean
---@field unique? boolean
---@field index? boolean
---@field autoincrement? boolean
---@field default? any|fun(ctx: table): any
---@field onupdate? any|fun(ctx: table): any|lualchemy.ColumnElement
---@field server_default? string|lualchemy.TextClause|lualchemy.ColumnElement
---@field name? string
---@field key? string
---@field comment? string
---@field doc? string
---@field info? table

---@class lualchemy.RelationshipOptions
---@field back_populates? string
---@field backref? string|lualchemy.Backref
---@field secondary? lualchemy.Table|string
---@field uselist? boolean
---@field remote_side? string|string[]
---@field foreign_keys? string|string[]
---@field primaryjoin? lualchemy.ColumnElement|fun(): lualchemy.ColumnElement
---@field order_by? lualchemy.ColumnElement|lualchemy.ColumnElement[]|string
---@field lazy? "select"|"joined"|"selectin"|"raise"|"noload"|"write_only"|"dynamic"
---@field join_depth? integer
---@field collection_class? lualchemy.CollectionClass
---@field cascade? string
---@field passive_deletes? boolean|"all"
---@field viewonly? boolean
---@field post_update? boolean

---@class lualchemy.ExecuteOptions
---@field synchronize_session? "auto"|"evaluate"|"fetch"|false

-- ---------------------------------------------------------------------------------------
-- Errors and events
-- ---------------------------------------------------------------------------------------

---`orm.Error`: each kind's name as a string (`orm.Error.IntegrityError == "IntegrityError"`).
---@class lualchemy.ErrorKinds
---@field ArgumentError string
---@field AttributeError string
---@field CircularDependencyError string
---@field DBAPIError string
---@field DataError string
---@field DetachedInstanceError string
---@field IntegrityError string
---@field InternalError string
---@field LookupError string
---@field InvalidRequestError string
---@field MultipleResultsFound string
---@field NoResultFound string
---@field ObjectDeletedError string
---@field OperationalError string
---@field PendingRollbackError string
---@field ProgrammingError string
---@field StaleDataError string
---@field UnmappedInstanceError string
local ErrorKinds = {}

---Whether `err` is an error of `kind` or of a kind below it (`IntegrityError` is a `DBAPIError`).
---@param err any
---@param kind string
---@return boolean
function ErrorKinds.is(err, kind) end

---An error lualchemy raises (catch it with `pcall`).
---@class lualchemy.Error
---@field kind string e.g. "IntegrityError"; "LuaError" for an error that is not the ORM's
---@field message string
---@field statement? string the SQL, for database errors
---@field params? any[] the parameters, for database errors
---@field orig? string the database's own message, for database errors
local Error = {}

---@param kind string
---@return boolean
function Error:is(kind) end

---@class lualchemy.event
local event = {}

---@param target any a model, a session, a sessionmaker, an engine, an attribute or a base
---@param name string
---@param fn function
---@param options? { once?: boolean, retval?: boolean, propagate?: boolean }
function event.listen(target, name, fn, options) end

---`orm.event.listens_for(target, name, fn [, options])` registers fn and returns it;
---`orm.event.listens_for(target, name [, options])` returns a function that registers its
---argument (a decorator).
---@overload fun(target: any, name: string, options?: { once?: boolean, retval?: boolean, propagate?: boolean }): fun(fn: function): function
---@param target any
---@param name string
---@param fn function
---@param options? { once?: boolean, retval?: boolean, propagate?: boolean }
---@return function
function event.listens_for(target, name, fn, options) end

---@param target any
---@param name string
---@param fn function
function event.remove(target, name, fn) end

---@param target any
---@param name string
---@param fn function
---@return boolean
function event.contains(target, name, fn) end

---@class lualchemy.func
---@field [string] fun(...: lualchemy.Operand): lualchemy.ColumnElement

-- ---------------------------------------------------------------------------------------
-- Engines and connections
-- ---------------------------------------------------------------------------------------

---@class lualchemy.Engine
---@field url string
---@field dialect string "sqlite", "postgresql" or "mysql"
local Engine = {}

---@return lualchemy.Connection
function Engine:connect() end

---Closes the idle connections (an in-memory database goes once nothing uses it).
function Engine:dispose() end

---@param echo boolean|fun(sql: string, params: table)
function Engine:set_echo(echo) end

---Runs fn with a connection in a transaction: committed on return, rolled back (and the
---error raised again) on error.
---@param fn fun(conn: lualchemy.Connection): ...
---@return ...
function Engine:begin(fn) end

---@class lualchemy.Connection
local Connection = {}

---@param stmt lualchemy.TextClause|lualchemy.Select|lualchemy.Insert|lualchemy.DML
---@param params? table named parameters, or an INSERT's row(s)
---@return lualchemy.Result
function Connection:execute(stmt, params) end

function Connection:commit() end

function Connection:rollback() end

function Connection:close() end

---@return boolean
function Connection:in_transaction() end

---@return boolean
function Connection:in_nested_transaction() end

---Begins a transaction (an error if one is already begun, or autobegun).
---@return lualchemy.Transaction
function Connection:begin() end

---A SAVEPOINT (beginning the transaction first if none is open).
---@return lualchemy.Transaction
function Connection:begin_nested() end

---A transaction of `conn:begin()` or SAVEPOINT of `conn:begin_nested()`. With `<close>`
---(Lua 5.4), committed when the block ends normally, rolled back on error.
---@class lualchemy.Transaction
---@field is_active boolean still the connection's current transaction (or open SAVEPOINT)
---@field nested boolean a SAVEPOINT
---@field connection lualchemy.Connection
local Transaction = {}

---Commits (releases the SAVEPOINT); an error when no longer active.
function Transaction:commit() end

---Rolls back (to the SAVEPOINT); nothing when no longer active.
function Transaction:rollback() end

---The same as rollback().
function Transaction:close() end

-- ---------------------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------------------

---@class lualchemy.Session
---@field new lualchemy.IdentitySet pending objects
---@field dirty lualchemy.IdentitySet persistent objects with changes
---@field deleted lualchemy.IdentitySet objects marked for deletion
---@field info table a plain table for the caller
---@field bind? lualchemy.Engine
---@field autoflush boolean
---@field is_active boolean
local Session = {}

---@param obj lualchemy.Instance
function Session:add(obj) end

---@param objs lualchemy.Instance[]
function Session:add_all(objs) end

---@param obj lualchemy.Instance
function Session:delete(obj) end

---@param model lualchemy.Model
---@param pk any the primary key, or a list of its values for a composite key
---@param options? { options?: lualchemy.Load[] }
---@return lualchemy.Instance?
function Session:get(model, pk, options) end

function Session:flush() end

function Session:commit() end

function Session:rollback() end

function Session:close() end

---@param obj lualchemy.Instance
function Session:expunge(obj) end

function Session:expunge_all() end

---@param obj lualchemy.Instance
---@return lualchemy.Instance
function Session:merge(obj) end

---@param obj lualchemy.Instance
function Session:refresh(obj) end

---@param obj lualchemy.Instance
---@param names? string[]
function Session:expire(obj, names) end

function Session:expire_all() end

---@param obj lualchemy.Instance
---@return boolean
function Session:is_modified(obj) end

---@return boolean
function Session:in_transaction() end

---@return boolean
function Session:in_nested_transaction() end

---@param stmt lualchemy.Executable
---@param params? table named parameters, or a list of rows for orm.insert
---@param options? lualchemy.ExecuteOptions
---@return lualchemy.Result
function Session:execute(stmt, params, options) end

---@param stmt lualchemy.Select|lualchemy.TextClause
---@param params? table
---@return lualchemy.Result
function Session:scalars(stmt, params) end

---@param stmt lualchemy.Select|lualchemy.TextClause
---@param params? table
---@return any
function Session:scalar(stmt, params) end

---The legacy query: `session:query(User):filter(...):all()`.
---@param ... lualchemy.Selectable
---@return lualchemy.Query
function Session:query(...) end

---A transaction: fn runs, then commit; on error rollback and the error raised again.
---Without fn, begins and returns the session.
---@param fn? fun(session: lualchemy.Session): ...
---@return ...
function Session:begin(fn) end

---A SAVEPOINT around fn: released on return, rolled back to on error.
---@param fn fun(session: lualchemy.Session): ...
---@return ...
function Session:begin_nested(fn) end

---fn(session), then close (no commit): Python's `with Session() as s:`.
---@param fn fun(session: lualchemy.Session): ...
---@return ...
function Session:run(fn) end

---fn(session) with autoflush off.
---@param fn fun(session: lualchemy.Session): ...
---@return ...
function Session:no_autoflush(fn) end

---The engine a model's statements run on (its `binds` entry, else the session's bind).
---@param model? lualchemy.Model
---@return lualchemy.Engine
function Session:get_bind(model) end

---Legacy bulk save: objects without an identity are INSERTed, those with one UPDATEd;
---no events, no cascades, the objects are not attached.
---@param objects lualchemy.Instance[]
---@param options? { return_defaults?: boolean, update_changed_only?: boolean, preserve_order?: boolean }
function Session:bulk_save_objects(objects, options) end

---Legacy bulk INSERT of attribute tables; `return_defaults` sets each table's primary key.
---@param model lualchemy.Model
---@param mappings table[]
---@param options? { return_defaults?: boolean, render_nulls?: boolean }
function Session:bulk_insert_mappings(model, mappings, options) end

---Legacy bulk UPDATE by primary key of attribute tables (each holds the key).
---@param model lualchemy.Model
---@param mappings table[]
function Session:bulk_update_mappings(model, mappings) end

---`orm.scoped_session(factory)`: the Session methods and attributes, proxied to the
---current scope's session.
---@class lualchemy.ScopedSession: lualchemy.Session
---@overload fun(options?: lualchemy.SessionOptions): lualchemy.Session
---@field registry lualchemy.ScopedRegistry
---@field session_factory lualchemy.SessionMaker|fun(...): lualchemy.Session
local ScopedSession = {}

---Closes the current scope's session (if any) and forgets it.
function ScopedSession:remove() end

---Reconfigures the sessionmaker behind the registry.
---@param options lualchemy.SessionOptions
function ScopedSession:configure(options) end

---The sessions of a scoped_session by scope: `registry()` is the current one.
---@class lualchemy.ScopedRegistry
---@overload fun(...): lualchemy.Session
local ScopedRegistry = {}

---@return boolean
function ScopedRegistry:has() end

---@param session lualchemy.Session
function ScopedRegistry:set(session) end

function ScopedRegistry:clear() end

---@class lualchemy.SessionMaker
---@overload fun(options?: lualchemy.SessionOptions): lualchemy.Session
local SessionMaker = {}

---@param options lualchemy.SessionOptions
function SessionMaker:configure(options) end

---A new session in a transaction around fn, closed afterwards.
---@param fn fun(session: lualchemy.Session): ...
---@return ...
function SessionMaker:begin(fn) end

---`#set`, `set:contains(obj)`, `for obj in set:iter() do`.
---@class lualchemy.IdentitySet
local IdentitySet = {}

---@param obj lualchemy.Instance
---@return boolean
function IdentitySet:contains(obj) end

---@return fun(): lualchemy.Instance?
function IdentitySet:iter() end

---@return lualchemy.Instance[]
function IdentitySet:list() end

-- ---------------------------------------------------------------------------------------
-- Schema
-- ---------------------------------------------------------------------------------------

---A column type: `orm.Integer`, `orm.String(50)`, ...
---@class lualchemy.TypeEngine
---@overload fun(...: any): lualchemy.TypeEngine
local TypeEngine = {}

---The type's DDL on the engine's database (the generic name without one).
---@param engine? lualchemy.Engine
---@return string
function TypeEngine:compile(engine) end

---This type, except on the named dialects: `orm.String():with_variant(orm.String(255), "mysql")`.
---@param other lualchemy.TypeEngine
---@param ... string dialect names
---@return lualchemy.TypeEngine
function TypeEngine:with_variant(other, ...) end

---An `orm.Column` value before its model exists; usable in expressions as a column.
---@class lualchemy.ColumnSpec : lualchemy.ColumnElement

---@class lualchemy.ForeignKey

---A constraint or an index (`__table_args__`, `orm.Table`).
---@class lualchemy.SchemaItem

---@class lualchemy.Table
---@field name string
---@field c table<string, lualchemy.ColumnElement> the columns' expressions by name
---@field columns lualchemy.ColumnInfo[] the columns in order
---@field primary_key string[] the primary key's column names

---@class lualchemy.MetaData
---@field tables table<string, lualchemy.Table>
---@field sorted_tables lualchemy.Table[] in foreign-key order
local MetaData = {}

---@param engine lualchemy.Engine
function MetaData:create_all(engine) end

---@param engine lualchemy.Engine
function MetaData:drop_all(engine) end

---Reads the database's tables (or those `only` names) into this MetaData.
---@param engine lualchemy.Engine
---@param options? { only?: string[] }
function MetaData:reflect(engine, options) end

---`orm.automap_base()`: classes mapped from a reflected schema, one per table with a primary
---key, named as the table; relationships from foreign keys named as SQLAlchemy's automap
---(`addresses.users`, `users.addresses_collection`; many-to-many through a table of two
---foreign keys: `<other>_collection` on each side).
---@class lualchemy.AutomapBase
---@field classes table<string, lualchemy.Model> the mapped classes by table name
---@field metadata lualchemy.MetaData
---@field registry lualchemy.DeclarativeBase the declarative base the classes are made by
local AutomapBase = {}

---Reflects the database and maps its tables (again: only tables not mapped yet).
---@param engine lualchemy.Engine|{ autoload_with: lualchemy.Engine }
---@return lualchemy.AutomapBase
function AutomapBase:prepare(engine) end

---`orm.inspect(engine)`: the database's tables as SQLAlchemy's Inspector reports them, read
---afresh on each call. A name the database does not give is nil.
---@class lualchemy.Inspector
local Inspector = {}

---@return string[]
function Inspector:get_table_names() end

---@param name string
---@return boolean
function Inspector:has_table(name) end

---@param table string
---@return { name: string, type: lualchemy.TypeEngine, nullable: boolean, default: string?, primary_key: boolean, autoincrement: boolean? }[]
function Inspector:get_columns(table) end

---@param table string
---@return { constrained_columns: string[], name: string? }
function Inspector:get_pk_constraint(table) end

---@param table string
---@return { name: string?, constrained_columns: string[], referred_table: string, referred_columns: string[], options: { ondelete: string?, onupdate: string? } }[]
function Inspector:get_foreign_keys(table) end

---@param table string
---@return { name: string, column_names: string[], unique: boolean }[]
function Inspector:get_indexes(table) end

---@param table string
---@return { name: string?, column_names: string[] }[]
function Inspector:get_unique_constraints(table) end

---@param table string
---@return { name: string?, sqltext: string }[]
function Inspector:get_check_constraints(table) end

---@class lualchemy.CreateTable
local CreateTable = {}

---@param engine? lualchemy.Engine
---@return string
function CreateTable:compile(engine) end

-- ---------------------------------------------------------------------------------------
-- Models
-- ---------------------------------------------------------------------------------------

---@class lualchemy.DeclarativeBase
---@field metadata lualchemy.MetaData
---@field registry lualchemy.Registry
local DeclarativeBase = {}

---Declares a model: columns, relationships, hybrids, methods, `__tablename__`,
---`__table_args__`, `__abstract__`, `__mixins__`, `__mapper_args__`, `__tostring`.
---@param name string
---@param spec table
---@return lualchemy.Model
function DeclarativeBase:model(name, spec) end

---A model declared with `__abstract__ = true`: models built on it take its columns.
---@class lualchemy.AbstractModel
local AbstractModel = {}

---@param name string
---@param spec table
---@return lualchemy.Model
function AbstractModel:model(name, spec) end

---@class lualchemy.Registry
---@field mappers lualchemy.Mapper[]
---@field metadata lualchemy.MetaData
---@field type_annotation_map table<string, lualchemy.TypeEngine>

---A mapped class. `Model{ attr = value }` makes an instance; `Model.attr` is the column's
---SQL expression (a relationship attribute, a hybrid's SQL side, ...).
---@class lualchemy.Model
---@overload fun(attrs?: table): lualchemy.Instance
---@field __table__ lualchemy.Table
---@field __tablename__ string
---@field __name__ string
---@field __mapper__ lualchemy.Mapper
---@field [string] lualchemy.ClassAttribute a column, relationship, hybrid or method
local Model = {}

---Declares a subclass (single-table inheritance: no `__tablename__`; its columns are
---added to the parent's table): `Unit:model("Archer", { __mapper_args__ = {
---polymorphic_identity = "archer" }, range = orm.Column(orm.Integer) })`. With its own
---`__tablename__`: joined-table inheritance; with `__mapper_args__.concrete = true` under an
---`orm.ConcreteBase` / `orm.AbstractConcreteBase`: concrete-table inheritance.
---@param name string
---@param spec table
---@return lualchemy.Model
function Model:model(name, spec) end

---A validator: `User:validates("email", function(self, key, value) ... return value end)`.
---@param ... string|fun(self: lualchemy.Instance, key: string, value: any): any names, then the function
function Model:validates(...) end

---What editors take `Model.name` to be: a column expression or a relationship attribute
---(or a method, called). Declare `---@field` on your own model classes to be precise.
---@class lualchemy.ClassAttribute : lualchemy.ColumnElement, lualchemy.RelationshipAttribute
---@operator add(lualchemy.Operand): lualchemy.ColumnElement
---@operator sub(lualchemy.Operand): lualchemy.ColumnElement
---@operator mul(lualchemy.Operand): lualchemy.ColumnElement
---@operator div(lualchemy.Operand): lualchemy.ColumnElement
---@operator idiv(lualchemy.Operand): lualchemy.ColumnElement
---@operator mod(lualchemy.Operand): lualchemy.ColumnElement
---@operator concat(lualchemy.Operand): lualchemy.ColumnElement
---@operator unm: lualchemy.ColumnElement
---@overload fun(...): any

---An instance of a model: its attributes by name.
---@class lualchemy.Instance
---@field [string] any

---`orm.inspect(Model)`.
---@class lualchemy.Mapper
---@field class lualchemy.Model
---@field class_name string
---@field local_table lualchemy.Table
---@field columns lualchemy.MapperColumn[]
---@field primary_key lualchemy.MapperColumn[]
---@field relationships table<string|integer, lualchemy.RelationshipInfo>
---@field attrs table<string, table> every attribute by key, each with `.kind`
---@field all_orm_descriptors table<string, table>
---@field column_attrs table<string, table>
---@field synonyms table<string, table>
---@field inherits? lualchemy.Mapper the mapper of the class it inherits from
---@field base_mapper lualchemy.Mapper the base of its hierarchy (itself when none)
---@field single boolean a single-table inheritance subclass
---@field concrete boolean a class of a concrete-table hierarchy (its base included)
---@field polymorphic_on? lualchemy.MapperColumn the discriminator column
---@field polymorphic_identity? any its discriminator value
---@field polymorphic_map table<any, lualchemy.Model> the hierarchy's classes by identity

---`orm.inspect(obj)`.
---@class lualchemy.InstanceState
---@field transient boolean
---@field pending boolean
---@field persistent boolean
---@field deleted boolean
---@field detached boolean
---@field was_deleted boolean
---@field modified boolean
---@field expired boolean
---@field identity? any[] the primary key values, nil until persistent
---@field has_identity boolean
---@field session? lualchemy.Session
---@field object lualchemy.Instance
---@field mapper lualchemy.Mapper
---@field attrs table<string, lualchemy.AttributeState>
---@field unloaded string[]

---@class lualchemy.AttributeState
---@field key string
---@field history { added: any[], unchanged: any[], deleted: any[] }
---@field loaded_value any
---@field loaded boolean
---@field value any

---@class lualchemy.Hybrid
local Hybrid = {}

---The SQL side: `fn(cls)` (or `fn(cls, ...)` for a hybrid method) returns an expression.
---@param fn fun(cls: lualchemy.Model, ...): lualchemy.ColumnElement
---@return lualchemy.Hybrid
function Hybrid:expression(fn) end

---@param fn fun(self: lualchemy.Instance, value: any)
---@return lualchemy.Hybrid
function Hybrid:setter(fn) end

---@param fn fun(self: lualchemy.Instance): any
---@return lualchemy.Hybrid
function Hybrid:getter(fn) end

---`orm.TypeDecorator{...}`'s table.
---@class lualchemy.TypeDecoratorSpec
---@field impl lualchemy.TypeEngine the type the database sees
---@field process_bind_param? fun(value: any, dialect: nil): any your value -> the impl type's
---@field process_result_value? fun(value: any, dialect: nil): any the impl type's value -> yours
---@field name? string the type's name in messages
---@field cache_ok? boolean accepted, not used

---`orm.composite(...)` as declared in a model spec.
---@class lualchemy.Composite

---A composite on the class (`Box.start`): comparisons column by column, joined with AND.
---@class lualchemy.CompositeComparator
---@field columns lualchemy.ColumnElement[] its column expressions, in order
local CompositeComparator = {}

---@param value any a composite value, or nil (`IS NULL` on each column)
---@return lualchemy.ColumnElement
function CompositeComparator:eq(value) end

---@param value any
---@return lualchemy.ColumnElement
function CompositeComparator:ne(value) end

---@param value any
---@return lualchemy.ColumnElement
function CompositeComparator:lt(value) end

---@param value any
---@return lualchemy.ColumnElement
function CompositeComparator:le(value) end

---@param value any
---@return lualchemy.ColumnElement
function CompositeComparator:gt(value) end

---@param value any
---@return lualchemy.ColumnElement
function CompositeComparator:ge(value) end

---@class lualchemy.ColumnProperty

---@class lualchemy.Synonym

---@class lualchemy.RelationshipProperty

---@class lualchemy.Backref

---`User.posts` (also `orm.aliased(User).posts`): a relationship in SQL.
---@class lualchemy.RelationshipAttribute
local RelationshipAttribute = {}

---EXISTS of a related row (collections).
---@param criterion? lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function RelationshipAttribute:any(criterion) end

---EXISTS of the related row (many-to-one, one-to-one).
---@param criterion? lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function RelationshipAttribute:has(criterion) end

---@param obj lualchemy.Instance?
---@return lualchemy.ColumnElement
function RelationshipAttribute:eq(obj) end

---@param obj lualchemy.Instance?
---@return lualchemy.ColumnElement
function RelationshipAttribute:ne(obj) end

---@param obj lualchemy.Instance
---@return lualchemy.ColumnElement
function RelationshipAttribute:contains(obj) end

---The relationship aimed at an `orm.aliased()` of its target (joins, `with_parent`,
---`contains_eager`).
---@param target lualchemy.Aliased|lualchemy.Model
---@return lualchemy.RelationshipAttribute
function RelationshipAttribute:of_type(target) end

---`user.posts`: `#coll`, `coll[i]`, `coll:iter()`, assignment of a list to the attribute.
---@class lualchemy.Collection
---@field [integer] lualchemy.Instance
local Collection = {}

---@param obj lualchemy.Instance
function Collection:append(obj) end

---@param obj lualchemy.Instance
function Collection:remove(obj) end

---@param objs lualchemy.Instance[]
function Collection:extend(objs) end

function Collection:clear() end

---@param obj lualchemy.Instance
---@return boolean
function Collection:contains(obj) end

---@return fun(): lualchemy.Instance?
function Collection:iter() end

---The members as a plain Lua list.
---@return lualchemy.Instance[]
function Collection:all() end

---A loader option, chainable: `orm.selectinload(User.posts):joinedload(Post.comments)`.
---@class lualchemy.Load
local Load = {}

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function Load:joinedload(...) end

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function Load:selectinload(...) end

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function Load:lazyload(...) end

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function Load:raiseload(...) end

---@param ... lualchemy.RelationshipAttribute|string
---@return lualchemy.Load
function Load:noload(...) end

---@param ... lualchemy.RelationshipAttribute|lualchemy.Aliased
---@return lualchemy.Load
function Load:contains_eager(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.Load
function Load:load_only(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.Load
function Load:defer(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.Load
function Load:undefer(...) end

-- ---------------------------------------------------------------------------------------
-- SQL expressions
-- ---------------------------------------------------------------------------------------

---A SQL expression: a column (`User.name`), a function call, a comparison, ... Arithmetic
---(`+ - * / // % -x`) and `..` build SQL; `&`, `|`, `~` are and_/or_/not_ on Lua 5.3+.
---@class lualchemy.ColumnElement
---@operator add(lualchemy.Operand): lualchemy.ColumnElement
---@operator sub(lualchemy.Operand): lualchemy.ColumnElement
---@operator mul(lualchemy.Operand): lualchemy.ColumnElement
---@operator div(lualchemy.Operand): lualchemy.ColumnElement
---@operator idiv(lualchemy.Operand): lualchemy.ColumnElement
---@operator mod(lualchemy.Operand): lualchemy.ColumnElement
---@operator concat(lualchemy.Operand): lualchemy.ColumnElement
---@operator unm: lualchemy.ColumnElement
---@operator band(lualchemy.ColumnElement): lualchemy.ColumnElement
---@operator bor(lualchemy.ColumnElement): lualchemy.ColumnElement
---@operator bnot: lualchemy.ColumnElement
local ColumnElement = {}

---`=` (`IS NULL` for nil).
---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:eq(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:ne(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:lt(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:le(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:gt(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:ge(other) end

---@param pattern string
---@return lualchemy.ColumnElement
function ColumnElement:like(pattern) end

---@param pattern string
---@return lualchemy.ColumnElement
function ColumnElement:ilike(pattern) end

---@param pattern string
---@return lualchemy.ColumnElement
function ColumnElement:not_like(pattern) end

---@param pattern string
---@return lualchemy.ColumnElement
function ColumnElement:not_ilike(pattern) end

---@param prefix string
---@return lualchemy.ColumnElement
function ColumnElement:startswith(prefix) end

---@param suffix string
---@return lualchemy.ColumnElement
function ColumnElement:endswith(suffix) end

---@param part string
---@return lualchemy.ColumnElement
function ColumnElement:contains(part) end

---@param values any[]|lualchemy.Select
---@return lualchemy.ColumnElement
function ColumnElement:in_(values) end

---@param values any[]|lualchemy.Select
---@return lualchemy.ColumnElement
function ColumnElement:not_in(values) end

---@param low lualchemy.Operand
---@param high lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:between(low, high) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:is_(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:is_not(other) end

---@param other lualchemy.Operand
---@return lualchemy.ColumnElement
function ColumnElement:isnot(other) end

---@return lualchemy.ColumnElement
function ColumnElement:asc() end

---@return lualchemy.ColumnElement
function ColumnElement:desc() end

---@return lualchemy.ColumnElement
function ColumnElement:distinct() end

---@param name string
---@return lualchemy.ColumnElement
function ColumnElement:label(name) end

---@param type lualchemy.TypeEngine
---@return lualchemy.ColumnElement
function ColumnElement:cast(type) end

---A JSON element read as JSON (the default for `data["key"]`, `data[1]`, `data[{ "a", 1 }]`).
---@return lualchemy.ColumnElement
function ColumnElement:as_json() end

---A JSON element read as a string.
---@return lualchemy.ColumnElement
function ColumnElement:as_string() end

---A JSON element read as an integer.
---@return lualchemy.ColumnElement
function ColumnElement:as_integer() end

---A JSON element read as a float.
---@return lualchemy.ColumnElement
function ColumnElement:as_float() end

---A JSON element read as a boolean.
---@return lualchemy.ColumnElement
function ColumnElement:as_boolean() end

---Narrows an `orm.exists()`.
---@param ... lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function ColumnElement:where(...) end

---Narrows an `orm.exists()`; on a function call, `FILTER (WHERE ...)` (a CASE inside the
---call on MySQL / MariaDB, which have no FILTER).
---@param ... lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function ColumnElement:filter(...) end

---@class lualchemy.OverOptions
---@field partition_by? lualchemy.ColumnElement|lualchemy.ColumnElement[]
---@field order_by? lualchemy.ColumnElement|lualchemy.ColumnElement[]
---@field rows? { [1]: integer?, [2]: integer? } frame bounds: nil unbounded, 0 current row, -n n preceding, n n following
---@field range? { [1]: integer?, [2]: integer? } as `rows`, in RANGE units

---A function call as a window function: `f(...) OVER (...)`.
---@param opts? lualchemy.OverOptions
---@return lualchemy.ColumnElement
function ColumnElement:over(opts) end

---An ordered-set aggregate: `f(...) WITHIN GROUP (ORDER BY ...)`.
---@param ... lualchemy.ColumnElement
---@return lualchemy.ColumnElement
function ColumnElement:within_group(...) end

---`orm.text(sql)`.
---@class lualchemy.TextClause

---`orm.null()`.
---@class lualchemy.Null
local Null = {}

---@param name string
---@return lualchemy.ColumnElement
function Null:label(name) end

---`orm.aliased(Model)`: the model's column and relationship attributes, on an alias.
---@class lualchemy.Aliased
---@field [string] lualchemy.ColumnElement|lualchemy.RelationshipAttribute

---A subquery or CTE: `.c.<name>` its columns; a FROM target.
---@class lualchemy.Subquery
---@field c table<string, lualchemy.ColumnElement>
---@field columns table<string, lualchemy.ColumnElement>
---@field name string
local Subquery = {}

---@param name? string
---@return lualchemy.Subquery
function Subquery:alias(name) end

---A recursive CTE's recursive member.
---@param stmt lualchemy.Select
---@return lualchemy.Subquery
function Subquery:union(stmt) end

---@param stmt lualchemy.Select
---@return lualchemy.Subquery
function Subquery:union_all(stmt) end

-- ---------------------------------------------------------------------------------------
-- Statements
-- ---------------------------------------------------------------------------------------

---What `orm.select(...)` and `session:query(...)` share.
---@class lualchemy.SelectBase
local SelectBase = {}

---Criteria, ANDed.
---@param ... lualchemy.ColumnElement
---@return self
function SelectBase:where(...) end

---@param ... lualchemy.ColumnElement
---@return self
function SelectBase:filter(...) end

---@param values table<string, any> attribute = value (orm.null() for NULL)
---@return self
function SelectBase:filter_by(values) end

---@param ... lualchemy.ColumnElement|string a column, or a label name ("-name" descending)
---@return self
function SelectBase:order_by(...) end

---@param ... lualchemy.ColumnElement|string
---@return self
function SelectBase:group_by(...) end

---@param ... lualchemy.ColumnElement
---@return self
function SelectBase:having(...) end

---@param n integer
---@return self
function SelectBase:limit(n) end

---@param n integer
---@return self
function SelectBase:offset(n) end

---@return self
function SelectBase:distinct() end

---@param ... lualchemy.Model
---@return self
function SelectBase:correlate_except(...) end

---@param ... lualchemy.Selectable
---@return self
function SelectBase:select_from(...) end

---@param target lualchemy.Selectable|lualchemy.RelationshipAttribute
---@param onclause? lualchemy.ColumnElement|lualchemy.RelationshipAttribute
---@return self
function SelectBase:join(target, onclause) end

---@param target lualchemy.Selectable|lualchemy.RelationshipAttribute
---@param onclause? lualchemy.ColumnElement|lualchemy.RelationshipAttribute
---@return self
function SelectBase:outerjoin(target, onclause) end

---@param ... lualchemy.Load
---@return self
function SelectBase:options(...) end

---@param name? string
---@return lualchemy.Subquery
function SelectBase:subquery(name) end

---A FROM subquery that reads the FROM items before it (`LATERAL`; PostgreSQL, MySQL 8).
---@param name? string
---@return lualchemy.Subquery
function SelectBase:lateral(name) end

---`:cte(name [, { recursive = true }])` or `:cte{ name = ..., recursive = true }`.
---@param name? string|{ name?: string, recursive?: boolean }
---@param options? { recursive?: boolean }
---@return lualchemy.Subquery
function SelectBase:cte(name, options) end

---@param name? string
---@return lualchemy.Subquery
function SelectBase:alias(name) end

---@return lualchemy.ColumnElement
function SelectBase:scalar_subquery() end

---@return lualchemy.ColumnElement
function SelectBase:exists() end

---@param ... lualchemy.Select
---@return self
function SelectBase:union(...) end

---@param ... lualchemy.Select
---@return self
function SelectBase:union_all(...) end

---`EXCEPT`.
---@param ... lualchemy.Select
---@return self
function SelectBase:except_(...) end

---`EXCEPT ALL` (not on SQLite).
---@param ... lualchemy.Select
---@return self
function SelectBase:except_all(...) end

---`INTERSECT`.
---@param ... lualchemy.Select
---@return self
function SelectBase:intersect(...) end

---`INTERSECT ALL` (not on SQLite).
---@param ... lualchemy.Select
---@return self
function SelectBase:intersect_all(...) end

---@class lualchemy.ForUpdateOptions
---@field read? boolean FOR SHARE (PostgreSQL) / LOCK IN SHARE MODE (MySQL, MariaDB)
---@field nowait? boolean
---@field skip_locked? boolean
---@field of? lualchemy.Selectable|lualchemy.Selectable[] the tables locked (PostgreSQL)

---`FOR UPDATE` and its kin; nothing on SQLite.
---@param opts? lualchemy.ForUpdateOptions
---@return self
function SelectBase:with_for_update(opts) end

---`orm.select(...)`; `tostring(stmt)` is its SQL.
---@class lualchemy.Select : lualchemy.SelectBase

---`session:query(...)` (the legacy Query).
---@class lualchemy.Query : lualchemy.SelectBase
local Query = {}

---@return any[]
function Query:all() end

---@return any
function Query:first() end

---@return any
function Query:one() end

---@return any
function Query:one_or_none() end

---@return any
function Query:scalar() end

---@return integer
function Query:count() end

---@param pk any
---@return lualchemy.Instance?
function Query:get(pk) end

---@param values table<string, any>
---@param options? lualchemy.ExecuteOptions
---@return integer rows matched
function Query:update(values, options) end

---@param options? lualchemy.ExecuteOptions
---@return integer rows matched
function Query:delete(options) end

---The query as an `orm.select` statement.
---@return lualchemy.Select
function Query:statement() end

---A `lazy = "dynamic"` relationship's query only: adds a member (written by the flush).
---@param obj lualchemy.Instance
function Query:append(obj) end

---A `lazy = "dynamic"` relationship's query only: adds each member of the list.
---@param list lualchemy.Instance[]
function Query:extend(list) end

---A `lazy = "dynamic"` relationship's query only: removes a member.
---@param obj lualchemy.Instance
function Query:remove(obj) end

---A dictionary collection (`collection_class`): the list methods, and by key.
---@class lualchemy.KeyedCollection : lualchemy.Collection
---@field [any] lualchemy.Instance
local KeyedCollection = {}

---The member filed under `key` (also for a key that is a method's name).
---@param key any
---@return lualchemy.Instance?
function KeyedCollection:get(key) end

---Files `obj` under `key` (its own key), replacing the member there; `nil` removes it.
---@param key any
---@param obj lualchemy.Instance?
function KeyedCollection:set(key, obj) end

---@return any[]
function KeyedCollection:keys() end

---@return lualchemy.Instance[]
function KeyedCollection:values() end

---`for key, member in coll:pairs() do`.
---@return fun(): any, lualchemy.Instance
function KeyedCollection:pairs() end

---What `orm.attribute_keyed_dict` and its kin return, for a relationship's `collection_class`.
---@class lualchemy.CollectionClass

---A `lazy = "write_only"` collection: never loaded; changes are written by the next flush.
---@class lualchemy.WriteOnlyCollection
local WriteOnlyCollection = {}

---@param obj lualchemy.Instance
function WriteOnlyCollection:add(obj) end

---@param list lualchemy.Instance[]
function WriteOnlyCollection:add_all(list) end

---@param obj lualchemy.Instance
function WriteOnlyCollection:remove(obj) end

---The SELECT of the members, in the relationship's `order_by`.
---@return lualchemy.Select
function WriteOnlyCollection:select() end

---`orm.insert(Model)`.
---@class lualchemy.Insert
local Insert = {}

---@param values table<string, any>
---@return lualchemy.Insert
function Insert:values(values) end

---@param ... lualchemy.Selectable
---@return lualchemy.Insert
function Insert:returning(...) end

---`orm.sqlite`, `orm.postgresql`, `orm.mysql`.
---@class lualchemy.DialectModule
local DialectModule = {}

---An INSERT with this database's upsert clause.
---@param model lualchemy.Model
---@return lualchemy.DialectInsert
function DialectModule.insert(model) end

---`orm.<dialect>.insert(Model)`; `stmt.excluded.<col>` (SQLite, PostgreSQL) or
---`stmt.inserted.<col>` (MySQL) is the row the INSERT proposed.
---@class lualchemy.DialectInsert
---@field excluded table<string, lualchemy.ColumnElement>
---@field inserted table<string, lualchemy.ColumnElement>
local DialectInsert = {}

---@param values table<string, any>
---@return lualchemy.DialectInsert
function DialectInsert:values(values) end

---@param ... lualchemy.Selectable
---@return lualchemy.DialectInsert
function DialectInsert:returning(...) end

---`ON CONFLICT [(cols)] DO NOTHING`.
---@param opts? { index_elements?: any[], index_where?: lualchemy.ColumnElement, constraint?: string }
---@return lualchemy.DialectInsert
function DialectInsert:on_conflict_do_nothing(opts) end

---`ON CONFLICT (cols) DO UPDATE SET ... [WHERE ...]`.
---@param opts { index_elements?: any[], index_where?: lualchemy.ColumnElement, constraint?: string, set_: table, where?: lualchemy.ColumnElement }
---@return lualchemy.DialectInsert
function DialectInsert:on_conflict_do_update(opts) end

---`ON DUPLICATE KEY UPDATE col = value, ...` (MySQL, MariaDB).
---@param set table
---@return lualchemy.DialectInsert
function DialectInsert:on_duplicate_key_update(set) end

---`orm.update(Model)` / `orm.delete(Model)`.
---@class lualchemy.DML
local DML = {}

---@param ... lualchemy.ColumnElement
---@return lualchemy.DML
function DML:where(...) end

---@param ... lualchemy.ColumnElement
---@return lualchemy.DML
function DML:filter(...) end

---@param values table<string, any>
---@return lualchemy.DML
function DML:filter_by(values) end

---@param values table<string, any> attribute = value or expression (orm.null() for NULL)
---@return lualchemy.DML
function DML:values(values) end

---@param ... lualchemy.Selectable
---@return lualchemy.DML
function DML:returning(...) end

---@param options lualchemy.ExecuteOptions
---@return lualchemy.DML
function DML:execution_options(options) end

-- ---------------------------------------------------------------------------------------
-- Results
-- ---------------------------------------------------------------------------------------

---Rows of a statement: `for row in result do`, `#result`, `result[i]` (the rows that remain).
---@class lualchemy.Result
---@overload fun(): any
---@field rowcount integer the rows an UPDATE or DELETE matched; -1 otherwise
---@field returns_rows boolean
---@field closed boolean
---@field [integer] any
local Result = {}

---@return any[]
function Result:all() end

---@return any[]
function Result:fetchall() end

---The first row (or object, or scalar) and close; nil when none.
---@return any
function Result:first() end

---Exactly one, else NoResultFound / MultipleResultsFound.
---@return any
function Result:one() end

---@return any
function Result:one_or_none() end

---The first column of the first row, or nil.
---@return any
function Result:scalar() end

---@return any
function Result:scalar_one() end

---@return any
function Result:scalar_one_or_none() end

---The values of one column (the first, or the given position or name).
---@param column? integer|string
---@return lualchemy.Result
function Result:scalars(column) end

---Rows as tables by column name.
---@return lualchemy.Result
function Result:mappings() end

---Drops duplicate rows (needed with a joined eager load of a collection).
---@return lualchemy.Result
function Result:unique() end

---@param n? integer
---@return any[]
function Result:fetchmany(n) end

---@return any
function Result:fetchone() end

---`for part in result:partitions(n) do`: lists of up to n rows.
---@param n? integer
---@return fun(): any[]?
function Result:partitions(n) end

function Result:close() end

---@return string[]
function Result:keys() end

-- ---------------------------------------------------------------------------------------
-- require("lualchemy.migrate") / orm.migrate: migrations as Alembic's (docs/MIGRATIONS.md).
-- `dir` is the migration folder (env.lua, versions/). `options`: `engine` (an Engine to
-- migrate instead of env.lua's), `url` (instead of env.lua's url), `sql` (upgrade only:
-- return the SQL instead of running it, Alembic's offline mode).

---@class lualchemy.migrate
local migrate = {}

---Creates DIR/env.lua and DIR/versions/ (DIR defaults to "migrations").
---@param dir? string
function migrate.init(dir) end

---Writes a new revision script following the head.
---@param dir string
---@param options? { message: string?, rev_id: string?, autogenerate: boolean?, engine: lualchemy.Engine?, url: string? }
---@return { revision: string, down_revision: string?, path: string }
function migrate.revision(dir, options) end

---Upgrades to "head", "+N" or a revision (id or unique prefix); each revision in its own
---transaction. With `{ sql = true }` returns the SQL instead ("A:B" ranges allowed).
---@param dir string
---@param target? string
---@param options? { engine: lualchemy.Engine?, url: string?, sql: boolean? }
---@return string? sql
function migrate.upgrade(dir, target, options) end

---Downgrades to "-N", a revision or "base". With `{ sql = true }` returns the SQL of
---"FROM:TO" instead.
---@param dir string
---@param target string
---@param options? { engine: lualchemy.Engine?, url: string?, sql: boolean? }
---@return string? sql
function migrate.downgrade(dir, target, options) end

---The revision the database is at (nil at the base).
---@param dir string
---@param options? { engine: lualchemy.Engine?, url: string? }
---@return string?
function migrate.current(dir, options) end

---Every revision, from the head down.
---@param dir string
---@return { revision: string, down_revision: string?, message: string, path: string, is_head: boolean }[]
function migrate.history(dir) end

---@param dir string
---@return string[]
function migrate.heads(dir) end

---Sets the version table to a revision ("head", an id, or "base") without running anything.
---@param dir string
---@param revision string
---@param options? { engine: lualchemy.Engine?, url: string? }
function migrate.stamp(dir, revision, options) end

---Autogenerate (docs/AUTOGENERATE.md): the
---differences between metadata and the database (Alembic's compare_metadata).
---@param bind lualchemy.Engine|lualchemy.Connection
---@param metadata lualchemy.MetaData
---@return lualchemy.autogenerate.Diff[]
function migrate.compare_metadata(bind, metadata) end

---@param diffs lualchemy.autogenerate.Diff[]
---@param options? lualchemy.autogenerate.RenderOptions
---@return string
function migrate.render_upgrade(diffs, options) end

---@param diffs lualchemy.autogenerate.Diff[]
---@param options? lualchemy.autogenerate.RenderOptions
---@return string
function migrate.render_downgrade(diffs, options) end

---@param diffs lualchemy.autogenerate.Diff[]
---@param options? lualchemy.autogenerate.RenderOptions
---@return string upgrade
---@return string downgrade
function migrate.render(diffs, options) end

---For a mod at start-up: applies the safe changes (new tables, nullable or defaulted columns,
---indexes) at once and reports the rest, never raising for them.
---@param metadata lualchemy.MetaData
---@param engine lualchemy.Engine
---@return lualchemy.autogenerate.AutoReport
function migrate.auto(metadata, engine) end

---What a revision's upgrade / downgrade receives: Alembic's `op`, called with a dot,
---keyword arguments in a trailing options table.
---@class lualchemy.migrate.Op
local Op = {}

---@param table_name string
---@param ... lualchemy.ColumnSpec|lualchemy.SchemaItem|table columns, constraints, indexes
---@return lualchemy.Table
function Op.create_table(table_name, ...) end

---@param table_name string
function Op.drop_table(table_name) end

---@param table_name string
---@param column lualchemy.ColumnSpec
function Op.add_column(table_name, column) end

---@param table_name string
---@param column_name string
function Op.drop_column(table_name, column_name) end

---Type, nullability, server default (false drops it), rename; a type change checks the data
---first and refuses values that would not fit, naming their rows.
---@param table_name string
---@param column_name string
---@param options { type_: lualchemy.TypeEngine?, nullable: boolean?, server_default: string|false|nil, new_column_name: string?, existing_type: lualchemy.TypeEngine?, existing_nullable: boolean?, existing_server_default: string? }
function Op.alter_column(table_name, column_name, options) end

---@param old_table_name string
---@param new_table_name string
function Op.rename_table(old_table_name, new_table_name) end

---@param index_name string
---@param table_name string
---@param columns string[]
---@param options? { unique: boolean? }
function Op.create_index(index_name, table_name, columns, options) end

---@param index_name string
---@param options? { table_name: string? }
function Op.drop_index(index_name, options) end

---@param constraint_name string
---@param table_name string
---@param columns string[]
function Op.create_unique_constraint(constraint_name, table_name, columns) end

---@param constraint_name string
---@param table_name string
---@param condition string|lualchemy.TextClause the SQL of the check
function Op.create_check_constraint(constraint_name, table_name, condition) end

---@param constraint_name string
---@param source_table string
---@param referent_table string
---@param local_cols string[]
---@param remote_cols string[]
---@param options? { ondelete: string?, onupdate: string? }
function Op.create_foreign_key(constraint_name, source_table, referent_table, local_cols, remote_cols, options) end

---@param constraint_name string
---@param table_name string
---@param options? { type_: "unique"|"foreignkey"|"check"|"primary"|nil }
function Op.drop_constraint(constraint_name, table_name, options) end

---A SQL string, orm.text(), or a statement (orm.insert / update / delete / select).
---@param statement string|lualchemy.TextClause|lualchemy.Select|lualchemy.Insert|lualchemy.DML
---@param params? table
function Op.execute(statement, params) end

---@param table lualchemy.Table
---@param rows table[]
function Op.bulk_insert(table, rows) end

---The migration's Connection (inside the revision's transaction); `orm.Session(op.get_bind())`
---for data migrations.
---@return lualchemy.Connection
function Op.get_bind() end

---SQLite: the operations in `fn` rebuild the table (new table, copy, drop, rename), keeping
---every row; elsewhere they run as plain ALTERs.
---@param table_name string
---@param fn fun(batch_op: lualchemy.migrate.BatchOp)
function Op.batch_alter_table(table_name, fn) end

---`op`'s column operations with the table given by `batch_alter_table`.
---@class lualchemy.migrate.BatchOp
local BatchOp = {}

---@param column lualchemy.ColumnSpec
function BatchOp.add_column(column) end

---@param column_name string
function BatchOp.drop_column(column_name) end

---@param column_name string
---@param options { type_: lualchemy.TypeEngine?, nullable: boolean?, server_default: string|false|nil, new_column_name: string?, existing_type: lualchemy.TypeEngine? }
function BatchOp.alter_column(column_name, options) end

---@param index_name string
---@param columns string[]
---@param options? { unique: boolean? }
function BatchOp.create_index(index_name, columns, options) end

---@param index_name string
function BatchOp.drop_index(index_name) end

---@param constraint_name string
---@param columns string[]
function BatchOp.create_unique_constraint(constraint_name, columns) end

---@param constraint_name string
---@param condition string|lualchemy.TextClause
function BatchOp.create_check_constraint(constraint_name, condition) end

---@param constraint_name string
---@param referent_table string
---@param local_cols string[]
---@param remote_cols string[]
---@param options? { ondelete: string?, onupdate: string? }
function BatchOp.create_foreign_key(constraint_name, referent_table, local_cols, remote_cols, options) end

---@param constraint_name string
---@param options? { type_: "unique"|"foreignkey"|"check"|"primary"|nil }
function BatchOp.drop_constraint(constraint_name, options) end

-- require("lualchemy.testing"): database fixtures for specs (docs/TESTING.md)
-- ---------------------------------------------------------------------------------------

---@class lualchemy.testing
---@field current? lualchemy.testing.Fixture the fixture whose test is open (set by begin())
local testing = {}

---@class lualchemy.testing.FixtureOptions
---@field url? string the shared engine's URL ("sqlite://" by default)
---@field engine? lualchemy.Engine an engine to use instead of url
---@field metadata? lualchemy.MetaData its tables are created once, with the fixture
---@field engine_options? lualchemy.EngineOptions
---@field join_transaction_mode? "conditional_savepoint"|"create_savepoint"|"rollback_only"|"control_fully" default "create_savepoint"
---@field session_options? lualchemy.SessionOptions

---A shared engine with the schema created once; each test gets a session joined to a
---transaction rolled back after it.
---@param options? lualchemy.testing.FixtureOptions
---@return lualchemy.testing.Fixture
function testing.fixture(options) end

---A counter of the statements an engine executes (`before_cursor_execute`).
---@param engine lualchemy.Engine
---@return lualchemy.testing.QueryCounter
function testing.query_counter(engine) end

---@class lualchemy.testing.QueryCounter
---@field count integer statements executed since made or reset
---@field statements string[] their SQL
local QueryCounter = {}

---Starts counting again from 0.
function QueryCounter:reset() end

---Stops counting (removes the listener).
function QueryCounter:stop() end

---The number of statements fn made the engine execute, and their SQL.
---@param engine lualchemy.Engine
---@param fn fun()
---@return integer, string[]
function testing.count_queries(engine, fn) end

---@class lualchemy.testing.Fixture
---@field engine lualchemy.Engine
---@field metadata? lualchemy.MetaData
---@field join_transaction_mode string
---@field session_options lualchemy.SessionOptions
---@field session? lualchemy.Session the open test's session
---@field connection? lualchemy.Connection the open test's connection
---@field transaction? lualchemy.Transaction the open test's transaction
---@field sessions? lualchemy.Session[]
local Fixture = {}

---Begins a test: connection, transaction, joined session (returned).
---@return lualchemy.Session
function Fixture:begin() end

---Another session joined to the open test's transaction.
---@param options? lualchemy.SessionOptions
---@return lualchemy.Session
function Fixture:new_session(options) end

---Ends the open test: closes its sessions, rolls its transaction back.
function Fixture:rollback() end

---Registers begin / rollback as busted's before_each / after_each of the enclosing describe.
---@return lualchemy.testing.Fixture
function Fixture:around_each() end

---@param fn fun()
---@return integer, string[]
function Fixture:count_queries(fn) end

-- ---------------------------------------------------------------------------------------
-- autogenerate's values (docs/AUTOGENERATE.md); the functions are lualchemy.migrate's
-- ---------------------------------------------------------------------------------------

---One difference, in Alembic's shape: `{ "add_table", table }`, `{ "remove_table", table,
---rows = n }`, `{ "add_column", nil, "t", column }`, `{ "remove_column", nil, "t", column,
---rows = n }`, `{ "rename_column", nil, "t", "old", "new", { existing_type, existing_nullable } }`,
---`{ "add_index", index }`, `{ "remove_index", index }`, `{ "add_constraint", unique }`,
---`{ "remove_constraint", unique }`, `{ "add_fk", fk }`, `{ "remove_fk", fk }`, or a list of a
---column's `{ "modify_type" | "modify_nullable" | "modify_default", nil, "t", "c", existing, old, new }`.
---@class lualchemy.autogenerate.Diff
---@field rows? integer rows a remove_table drops; rows with a value a remove_column drops
---@field diff userdata the core difference render_upgrade reads
---@field [integer] any

---@class lualchemy.autogenerate.RenderOptions
---@field indent? string what each line starts with (four spaces by default)

---@class lualchemy.autogenerate.AutoEntry
---@field change string Alembic's name of the difference ("add_table", "add_column", "modify_type", ...)
---@field table string
---@field column? string
---@field name? string the index's or constraint's name
---@field reason? string why it was skipped

---@class lualchemy.autogenerate.AutoReport
---@field applied lualchemy.autogenerate.AutoEntry[]
---@field skipped lualchemy.autogenerate.AutoEntry[]

---A row: `row.name`, `row[1]`, `row.User`, `#row`.
---@class lualchemy.Row
---@field _mapping table<string, any>
---@field _fields string[]
---@field [integer|string] any
local Row = {}

---@return table<string, any>
function Row:_asdict() end

---@return any[]
function Row:_tuple() end

return orm
