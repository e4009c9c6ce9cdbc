// Runs against a live identity service: IDENTITY_URL (default http://127.0.0.1:8081).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { ApiError, IdentityClient } from "../src/index.js";

const IDENTITY_URL = process.env.IDENTITY_URL ?? "http://127.0.0.1:8081";

function uniqueEmail(): string {
  return `js-${randomBytes(6).toString("hex")}@example.com`;
}

/** A client whose fetch calls are recorded as "METHOD path -> status". */
function recordingClient(): { client: IdentityClient; calls: string[] } {
  const calls: string[] = [];
  const client = new IdentityClient(IDENTITY_URL, {
    fetch: async (request) => {
      const response = await fetch(request);
      calls.push(`${request.method} ${new URL(request.url).pathname} -> ${response.status}`);
      return response;
    },
  });
  return { client, calls };
}

async function loggedIn(): Promise<{ client: IdentityClient; calls: string[]; email: string }> {
  const { client, calls } = recordingClient();
  const email = uniqueEmail();
  await client.signup(email, "correct horse battery", "JS Client");
  await client.login(email, "correct horse battery");
  calls.length = 0;
  return { client, calls, email };
}

test("signs up, logs in and sends the bearer token", async () => {
  const { client, email } = await loggedIn();
  const me = await client.me();
  assert.equal(me.email, email);
  assert.deepEqual(me.permissions, []);
});

test("problem+json errors surface with their status", async () => {
  const { client, email } = await loggedIn();
  await assert.rejects(client.signup(email, "correct horse battery", "Again"), (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 409);
    assert.equal(e.problem?.status, 409);
    return true;
  });
  await assert.rejects(client.login(email, "wrong password!"), (e: unknown) => e instanceof ApiError && e.status === 401);
});

test("an expired or invalid access token is refreshed once and the call retried", async () => {
  const { client, calls } = await loggedIn();
  const before = client.session.current!;
  client.session.set({ ...before, accessToken: "not.a.token" });
  const me = await client.me();
  assert.ok(me.id);
  assert.deepEqual(calls, [
    "GET /v1/users/me -> 401",
    "POST /v1/sessions/refresh -> 200",
    "GET /v1/users/me -> 200",
  ]);
  assert.notEqual(client.session.current!.refreshToken, before.refreshToken, "refresh token rotated");
});

test("concurrent 401s share one refresh (refresh tokens are single use)", async () => {
  const { client, calls } = await loggedIn();
  client.session.set({ ...client.session.current!, accessToken: "not.a.token" });
  const results = await Promise.all([client.me(), client.me(), client.me()]);
  assert.equal(results.length, 3);
  assert.equal(calls.filter((c) => c.startsWith("POST /v1/sessions/refresh")).length, 1, calls.join("\n"));
});

test("two tabs refreshing one session at once both stay logged in with the same tokens", async () => {
  const { client } = await loggedIn();
  const shared = client.session.current!;
  const tabs = [recordingClient(), recordingClient()];
  for (const tab of tabs) tab.client.session.set({ ...shared, accessToken: "not.a.token" });
  const [a, b] = await Promise.all(tabs.map((tab) => tab.client.me()));
  assert.equal(a.id, b.id);
  for (const tab of tabs) {
    assert.deepEqual(tab.calls, [
      "GET /v1/users/me -> 401",
      "POST /v1/sessions/refresh -> 200",
      "GET /v1/users/me -> 200",
    ]);
  }
  assert.deepEqual(tabs[0].client.session.current, tabs[1].client.session.current, "one successor pair");
  assert.notEqual(tabs[0].client.session.current!.refreshToken, shared.refreshToken);
  // The session goes on: the successor refreshes normally.
  const next = tabs[0].client.session.current!;
  tabs[0].client.session.set({ ...next, accessToken: "not.a.token" });
  assert.ok((await tabs[0].client.me()).id);
  assert.notEqual(tabs[0].client.session.current!.refreshToken, next.refreshToken);
});

test("after logout the refresh fails once, the session is cleared, no retry loop", async () => {
  const { client, calls } = await loggedIn();
  const tokens = client.session.current!;
  await client.logout();
  client.session.set({ ...tokens, accessToken: "not.a.token" });
  await assert.rejects(client.me(), (e: unknown) => e instanceof ApiError && e.status === 401);
  assert.deepEqual(calls.slice(1), [
    "GET /v1/users/me -> 401",
    "POST /v1/sessions/refresh -> 401",
  ]);
  assert.equal(client.session.current, undefined);
});
