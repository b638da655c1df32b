// Fetch wrapper: JSON in and out, errors as ApiError with the server's message and key.
export class ApiError extends Error {
  constructor(status, message, key) { super(message); this.status = status; this.key = key; }
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer) {
      opts.body = body;
      opts.headers["Content-Type"] = "application/octet-stream";
    } else {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(path, opts);
  if (res.status === 401 && !path.startsWith("/api/auth/")) {
    window.dispatchEvent(new CustomEvent("hmi:unauthorized"));
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`, key = "";
    try {
      const data = await res.json();
      key = data.key || "";
      message = data.message || (typeof data.detail === "string" ? data.detail : message);
    } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, message, key);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}
