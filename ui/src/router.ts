// Hash routes (#/asset/12?x=1): the server only serves index.html, every view lives here.

export interface Route {
  path: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?", 2);
  return { path: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

export function go(path: string, query?: Record<string, string | number | boolean | null | undefined>): void {
  location.hash = `#${href(path, query)}`;
}

export function href(path: string, query?: Record<string, string | number | boolean | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== null && v !== undefined && v !== "" && v !== false) params.set(k, String(v));
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}

/** Change the URL's query without re-rendering the view (state worth bookmarking). */
export function replaceQuery(query: Record<string, string | number | boolean | null | undefined>): void {
  const route = currentRoute();
  const target = `#${href(`/${route.path.map(encodeURIComponent).join("/")}`, query)}`;
  if (target !== location.hash) history.replaceState(null, "", target);
}
