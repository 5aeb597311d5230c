// The REST client: bearer auth from the session, problem+json errors as readable ApiErrors.

import { apiKey, signOut } from "./auth";

export type QueryValue = string | number | boolean | null | undefined | (string | number)[];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly requestId: string | null = null,
  ) {
    super(`${title}: ${detail}`);
  }
}

export interface RequestOptions {
  method?: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  signal?: AbortSignal;
  // The sign-in check handles its own 401 instead of bouncing to the sign-in page.
  redirectOn401?: boolean;
}

export function apiUrl(path: string, query?: Record<string, QueryValue>): string {
  // Relative to the page, so the UI works behind a path prefix too.
  const url = new URL(`api/v1/${path.replace(/^\//, "")}`, document.baseURI);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(name, String(v)));
    else url.searchParams.set(name, String(value));
  }
  return url.toString();
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(apiUrl(path, options.query), {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      signal: options.signal,
      credentials: "omit",
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "Server unreachable", "the Headwater server did not answer; is it running?");
  }
  if (response.ok) return (await response.json()) as T;
  const problem = await readProblem(response);
  if (response.status === 401 && options.redirectOn401 !== false) {
    signOut();
    const next = encodeURIComponent(location.hash.slice(1) || "/");
    location.hash = `#/login?next=${next}&reason=${encodeURIComponent(problem.detail)}`;
  }
  throw problem;
}

async function readProblem(response: Response): Promise<ApiError> {
  const requestId = response.headers.get("x-request-id");
  try {
    const body = (await response.json()) as { title?: string; detail?: string; request_id?: string };
    return new ApiError(
      response.status,
      body.title ?? response.statusText,
      body.detail ?? `the server answered ${response.status}`,
      body.request_id ?? requestId,
    );
  } catch {
    return new ApiError(response.status, response.statusText || "Error", `the server answered ${response.status}`, requestId);
  }
}
