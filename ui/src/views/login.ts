// Sign-in with an API key: checked against /me, kept in sessionStorage for this tab only.

import { api, ApiError } from "../api";
import { signIn, signOut } from "../auth";
import { errorBox } from "../components";
import { h, replace } from "../dom";
import type { View } from "../main";
import { go } from "../router";
import type { Tenant, User } from "../types";

export const loginView: View = async (root, route, ctx) => {
  ctx.setTitle("Sign in");
  const reason = route.query.get("reason");
  const next = route.query.get("next") ?? "/";
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "hw_…",
    required: true,
    "aria-describedby": "api-key-help",
  });
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (ev: SubmitEvent) => {
        ev.preventDefault();
        const key = input.value.trim();
        replace(status);
        if (!/^hw_\S+$/.test(key)) {
          status.appendChild(errorBox(new ApiError(0, "Not an API key", "Headwater API keys look like hw_<prefix>_<secret>."), "Cannot sign in"));
          return;
        }
        button.disabled = true;
        // The key must be in place for the check itself; it is dropped again if the check fails.
        signIn(key, { email: "", roles: [], tenant: "" });
        try {
          const [me, tenant] = await Promise.all([
            api<User>("me", { redirectOn401: false }),
            api<Tenant>("tenant", { redirectOn401: false }),
          ]);
          signIn(key, { email: me.email, roles: me.roles, tenant: tenant.slug });
          go(next.startsWith("/") && !next.startsWith("/login") ? next : "/");
        } catch (error) {
          signOut();
          status.appendChild(errorBox(error, "Cannot sign in"));
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", null, "Sign in to Headwater"),
    reason ? h("p", { class: "notice" }, `You were signed out: ${reason}`) : null,
    h("label", { for: "api-key" }, "API key"),
    input,
    h(
      "p",
      { id: "api-key-help", class: "muted small" },
      "The key is kept in this browser tab's session storage and sent only to this server. ",
      "An admin creates keys with ",
      h("code", null, "headwater admin key create"),
      ".",
    ),
    button,
    status,
  );
  root.appendChild(form);
  input.focus();
};
