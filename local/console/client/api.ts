/// <reference lib="dom" />
// The page's calls to its own server (local/console/server.ts); nothing else is fetched.

export class ConsoleCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, { headers: { Accept: "application/json" }, signal });
  return answer<T>(response, `GET ${path}`);
}

export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return answer<T>(response, `POST ${path}`);
}

async function answer<T>(response: Response, what: string): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const detail = body as { error?: string; message?: string } | undefined;
    const message = detail?.message
      ? `${detail.error ?? "Error"}: ${detail.message}`
      : `${what} answered ${response.status}`;
    throw new ConsoleCallError(response.status, message);
  }
  return body as T;
}
