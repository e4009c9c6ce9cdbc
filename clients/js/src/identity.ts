/** The identity service's client: typed calls (from its OpenAPI document) plus login/logout on a {@link Session}. */

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./generated/identity.js";
import { type FetchLike, Session } from "./session.js";

export type User = components["schemas"]["User"];
export type Problem = components["schemas"]["Problem"];

/** A non-2xx answer, with the problem+json body when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(`HTTP ${status}${problem?.detail ? `: ${problem.detail}` : ""}`);
  }
}

export class IdentityClient {
  readonly session: Session;
  /** The typed openapi-fetch client, for calls without a helper here. */
  readonly api: Client<paths>;

  constructor(baseUrl: string, options: { fetch?: FetchLike; session?: Session } = {}) {
    this.session = options.session ?? new Session(baseUrl, options.fetch);
    this.api = createClient<paths>({ baseUrl, fetch: this.session.fetch });
  }

  async signup(email: string, password: string, displayName: string): Promise<User> {
    const { data, error, response } = await this.api.POST("/v1/users", {
      body: { email, password, display_name: displayName },
    });
    if (!data) throw new ApiError(response.status, error);
    return data;
  }

  /** Logs in and keeps the tokens in the session. */
  async login(email: string, password: string): Promise<void> {
    const { data, error, response } = await this.api.POST("/v1/sessions", { body: { email, password } });
    if (!data) throw new ApiError(response.status, error);
    this.session.set({ accessToken: data.access_token, refreshToken: data.refresh_token });
  }

  async me(): Promise<User> {
    const { data, error, response } = await this.api.GET("/v1/users/me");
    if (!data) throw new ApiError(response.status, error);
    return data;
  }

  /** Ends the session on the server and forgets the tokens. */
  async logout(): Promise<void> {
    const { response, error } = await this.api.DELETE("/v1/sessions/current");
    this.session.set(undefined);
    if (!response.ok) throw new ApiError(response.status, error);
  }
}
