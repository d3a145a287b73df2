// Types for integrator.io extension functions written in JavaScript: the `options` each kind
// of function receives and the result it answers, as the wire carries them (the same contract
// as the WIT interface `integrator:extension`, in the protocol's own field names). Use them from
// TypeScript, or from plain JavaScript with JSDoc:
//
//   /** @type {import('extension-sdk').Hook<'preMap'>} */
//   function preMapUpper (options, callback) { … }
//
// (`extension-host new --lang js` writes a jsconfig.json that maps `extension-sdk` here.)

/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A record: "an object {} or an array [] depending on the data source". */
export type DataRecord = { [key: string]: JsonValue } | JsonValue[];

/** Fields every function's options may carry; any other field the platform sends is kept. */
export interface Context {
  /** A one-time token for calling the integrator.io API back. */
  bearerToken?: string;
  _integrationId?: string;
  _parentIntegrationId?: string;
  _flowId?: string;
  _exportId?: string;
  _importId?: string;
  _connectionId?: string;
  /** The integration's or connector's settings. */
  settings?: JsonValue;
  /** The resource's hook configuration. */
  configuration?: JsonValue;
  [field: string]: unknown;
}

/** An error of one record. */
export interface RecordError {
  code: string;
  message: string;
  /** Where it happened (e.g. the hook's name). */
  source?: string;
}

/**
 * What a function may fail with: answered as `{code: err.code || err.name, message}` (an
 * `Error`, or an object with `code` and `message`; a string answers code `Error`).
 */
export type FnError = Error | { code?: string | number; name?: string; message?: string } | string;

/** Node-style callback: an error, or the result. */
export type Callback<R> = (err: FnError | null | undefined, result?: R) => void;

/**
 * A function of the module: it calls back `(err, result)`, or returns its result or a promise
 * of it (the callback is always passed; a function may ignore it).
 */
export type ExtensionFunction<O, R> = (options: O, callback: Callback<R>) => void | R | Promise<R>;

// ---- hooks -------------------------------------------------------------------------------

export interface PreSavePageOptions extends Context {
  data: DataRecord[];
  errors: JsonValue[];
  files?: JsonValue[];
  retryData?: JsonValue;
  pageIndex?: number;
  /** Arrives as a Date. */
  lastExportDateTime?: Date;
  /** Arrives as a Date. */
  currentExportDateTime?: Date;
}
export interface PreSavePageResult {
  data: DataRecord[];
  errors?: JsonValue[];
  /** Stop the flow after this page. */
  abort?: boolean;
  newErrorsAndRetryData?: JsonValue[];
}

export interface PreMapOptions extends Context {
  data: DataRecord[];
}
/** One per record, in order: the record to map, or its errors. */
export interface MapResult {
  data?: DataRecord;
  errors?: RecordError[];
}

export interface PostMapOptions extends Context {
  preMapData: DataRecord[];
  postMapData: DataRecord[];
}

/** One import response per submitted record. */
export interface ImportResponse {
  statusCode: number;
  id?: string;
  ignored?: boolean;
  errors?: RecordError[];
  [field: string]: unknown;
}
export interface PostSubmitOptions extends Context {
  preMapData: DataRecord[];
  postMapData: DataRecord[];
  responseData: ImportResponse[];
}

export interface PostResponseMapOptions extends Context {
  postResponseMapData: DataRecord[];
  responseData: JsonValue[];
  oneToMany?: boolean;
  pathToMany?: string;
}

export interface PostAggregateOptions extends Context {
  postAggregateData: JsonValue;
}

// ---- wrappers ----------------------------------------------------------------------------

export interface PingOptions extends Context {
  connection?: JsonValue;
}
export interface PingResult {
  statusCode: number;
  errors?: RecordError[];
}

export interface ExportOptions extends Context {
  connection?: JsonValue;
  type?: string;
  delta?: JsonValue;
  once?: JsonValue;
  test?: JsonValue;
  /** What the previous page answered as `state`. */
  state?: JsonValue;
  data?: DataRecord[];
}
export interface ExportResult {
  connectionOffline?: boolean;
  data: DataRecord[];
  errors?: RecordError[];
  lastPage: boolean;
  /** Handed back as `options.state` with the next page's call. */
  state?: JsonValue;
}

export interface ImportOptions extends Context {
  connection?: JsonValue;
  preMapData: DataRecord[];
  postMapData: DataRecord[];
}

// ---- installer, uninstaller, settings ------------------------------------------------------

export interface StepOptions extends Context {
  formSubmission?: JsonValue;
  resource?: JsonValue;
  parentResource?: JsonValue;
  license?: JsonValue;
  parentLicense?: JsonValue;
}
export interface FormInitOptions extends Context {
  resource?: JsonValue;
  parentResource?: JsonValue;
  grandparentResource?: JsonValue;
  license?: JsonValue;
  parentLicense?: JsonValue;
}
export interface PreSaveOptions extends Context {
  newResource?: JsonValue;
  oldResource?: JsonValue;
}
export interface InitChildOptions extends Context {
  parentIntegration?: JsonValue;
  parentLicense?: JsonValue;
}
export interface UpdateOptions extends Context {
  resource?: JsonValue;
  license?: JsonValue;
}
export interface ChangeEditionOptions extends Context {
  fromEdition?: JsonValue;
  toEdition?: JsonValue;
  integration?: JsonValue;
  license?: JsonValue;
}

/** The request a connector sent, as a response script sees it (no query string). */
export interface ScriptRequest {
  method: string;
  url: string;
  headers: { [name: string]: string };
}
/** The response a connector got. */
export interface ScriptResponse {
  status: number;
  headers: { [name: string]: string };
  body: string;
}
export interface ResponseScriptOptions extends Context {
  request: ScriptRequest;
  response: ScriptResponse;
}
/** 0 continue, 1 fail the step and retry it, 2 fail the flow and queue it for a retry, 3 fail
 * the flow without retry, 4 re-authenticate and retry. */
export interface ResponseScriptResult {
  responseCode: 0 | 1 | 2 | 3 | 4;
  message?: string;
}

/** Each kind's options and result (a function declares its kind with `fn.kind = '…'`). */
export interface Kinds {
  preSavePage: { options: PreSavePageOptions; result: PreSavePageResult };
  preMap: { options: PreMapOptions; result: MapResult[] };
  postMap: { options: PostMapOptions; result: MapResult[] };
  postSubmit: { options: PostSubmitOptions; result: ImportResponse[] };
  postResponseMap: { options: PostResponseMapOptions; result: JsonValue[] };
  postAggregate: { options: PostAggregateOptions; result: void };
  ping: { options: PingOptions; result: PingResult };
  export: { options: ExportOptions; result: ExportResult };
  import: { options: ImportOptions; result: ImportResponse[] };
  step: { options: StepOptions; result: JsonValue | void };
  formInit: { options: FormInitOptions; result: JsonValue };
  preSave: { options: PreSaveOptions; result: JsonValue };
  initChild: { options: InitChildOptions; result: JsonValue };
  update: { options: UpdateOptions; result: JsonValue | void };
  changeEdition: { options: ChangeEditionOptions; result: JsonValue | void };
  responseScript: { options: ResponseScriptOptions; result: ResponseScriptResult };
  json: { options: Context; result: JsonValue | void };
}

/** A function of kind `K`, with its `kind` declared (the host then checks its contract). */
export type Hook<K extends keyof Kinds> = ExtensionFunction<Kinds[K]['options'], Kinds[K]['result']> & {
  kind?: K;
};

/** A module's exports: groups of functions, or functions at the root. */
export interface ExtensionModule {
  hooks?: { [name: string]: Hook<keyof Kinds> };
  wrappers?: { [name: string]: Hook<keyof Kinds> };
  installer?: { [name: string]: Hook<keyof Kinds> };
  uninstaller?: { [name: string]: Hook<keyof Kinds> };
  settings?: { [name: string]: Hook<keyof Kinds> };
  utilities?: { [name: string]: Hook<keyof Kinds> };
  [groupOrFunction: string]: { [name: string]: Hook<keyof Kinds> } | Hook<keyof Kinds> | undefined;
}
