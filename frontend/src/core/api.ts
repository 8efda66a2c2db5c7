// HTTP helpers: JSON in and out, server errors turned into readable exceptions.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly hint?: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!response.ok) {
    const error = body as { error?: string; hint?: string } | undefined;
    const message = error?.error ?? `Request failed (${response.status})`;
    throw new ApiError(message, response.status, error?.hint, body);
  }
  return body as T;
}

/** GET a JSON resource. */
export async function getJson<T>(path: string): Promise<T> {
  return parse<T>(await fetch(path, { credentials: "same-origin" }));
}

/** Send JSON with any method and parse the JSON answer. */
export async function sendJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return parse<T>(response);
}

/** POST a multipart form (file uploads) and parse the JSON answer. */
export async function sendForm<T>(path: string, form: FormData): Promise<T> {
  return parse<T>(await fetch(path, { method: "POST", credentials: "same-origin", body: form }));
}
