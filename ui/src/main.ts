// Entry point: the page shell, sign-in gate and hash routing to the views.

import "./styles.css";
import { apiKey, identity, signOut } from "./auth";
import { errorBox } from "./components";
import { clear, h } from "./dom";
import { currentRoute, go, type Route } from "./router";
import { assetView } from "./views/asset";
import { impactView } from "./views/impact";
import { lineageView } from "./views/lineage";
import { loginView } from "./views/login";
import { pathsView } from "./views/paths";
import { searchView } from "./views/search";

export interface ViewContext {
  signal: AbortSignal;
  setTitle(title: string): void;
}

export type View = (root: HTMLElement, route: Route, ctx: ViewContext) => Promise<(() => void) | void>;

const VIEWS: Record<string, View> = {
  "": searchView,
  search: searchView,
  asset: assetView,
  lineage: lineageView,
  impact: impactView,
  paths: pathsView,
  login: loginView,
};

const app = document.getElementById("app")!;
let current: { controller: AbortController; cleanup: (() => void) | void } | null = null;

function shell(route: Route): HTMLElement {
  const who = identity();
  const section = route.path[0] ?? "";
  const link = (href: string, label: string, active: boolean): HTMLElement =>
    h("a", { href, class: active ? "active" : null, "aria-current": active ? "page" : null }, label);
  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "#/" }, h("span", { class: "logo", "aria-hidden": "true" }), "Headwater"),
    who
      ? h(
          "nav",
          { "aria-label": "main" },
          link("#/", "Search", section === "" || section === "search"),
          link("#/paths", "Paths", section === "paths"),
        )
      : null,
    h("div", { class: "spacer" }),
    who
      ? h(
          "div",
          { class: "identity", "data-testid": "identity" },
          h("span", { title: who.roles.join(", ") }, who.email),
          h("span", { class: "tenant" }, who.tenant),
          h(
            "button",
            {
              class: "link",
              type: "button",
              onclick: () => {
                signOut();
                go("/login");
              },
            },
            "Sign out",
          ),
        )
      : null,
  );
  return header;
}

async function navigate(): Promise<void> {
  const route = currentRoute();
  const name = route.path[0] ?? "";
  if (name !== "login" && !apiKey()) {
    go("/login", { next: location.hash.slice(1) || "/" });
    return;
  }
  if (current) {
    current.controller.abort();
    current.cleanup?.();
    current = null;
  }
  const controller = new AbortController();
  current = { controller, cleanup: undefined };
  clear(app);
  const main = h("main", { id: "view", "data-view": name || "search" });
  app.append(shell(route), main);
  const view = VIEWS[name];
  if (!view) {
    main.appendChild(h("div", { class: "card" }, h("h1", null, "Not found"), h("p", null, "This page does not exist. "), h("a", { href: "#/" }, "Back to search")));
    return;
  }
  try {
    const cleanup = await view(main, route, {
      signal: controller.signal,
      setTitle: (title) => {
        document.title = `${title} · Headwater`;
      },
    });
    if (current?.controller === controller) current.cleanup = cleanup;
    else cleanup?.();
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof DOMException && error.name === "AbortError") return;
    main.appendChild(errorBox(error, "This page could not be loaded"));
  }
}

window.addEventListener("hashchange", () => void navigate());
void navigate();
