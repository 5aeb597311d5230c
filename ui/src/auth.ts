// The API key lives in sessionStorage: it survives reloads of the tab, never outlives it.

const KEY = "headwater.apiKey";
const WHO = "headwater.identity";

export interface Identity {
  email: string;
  roles: string[];
  tenant: string;
}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function identity(): Identity | null {
  const raw = sessionStorage.getItem(WHO);
  return raw ? (JSON.parse(raw) as Identity) : null;
}

export function signIn(key: string, who: Identity): void {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(WHO, JSON.stringify(who));
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WHO);
}
