/**
 * A login session shared by the clients of every Switchyard service: it holds the access and refresh tokens,
 * adds `Authorization: Bearer <access>` to requests, and on a 401 refreshes once (concurrent 401s share one
 * refresh: refresh tokens are single use) and retries. Identity answers a refresh token presented again within
 * its grace window (REFRESH_REUSE_GRACE_SECONDS, 20 s) with the same new pair, so two tabs or processes holding
 * one session may refresh at once; presented later, a used token revokes the whole session.
 */

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export type FetchLike = (input: Request) => Promise<Response>;

export class Session {
  private tokens: Tokens | undefined;
  private refreshing: Promise<boolean> | undefined;

  /**
   * @param identityUrl base URL of the identity service (refresh goes to `POST /v1/sessions/refresh`)
   * @param baseFetch the underlying fetch (tests count calls through it)
   */
  constructor(
    private readonly identityUrl: string,
    private readonly baseFetch: FetchLike = (r) => globalThis.fetch(r),
  ) {}

  get current(): Tokens | undefined {
    return this.tokens;
  }

  set(tokens: Tokens | undefined): void {
    this.tokens = tokens;
  }

  /** Exchanges the refresh token; false (and the session cleared) when identity refuses it. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const refreshToken = this.tokens?.refreshToken;
    if (!refreshToken) return false;
    const response = await this.baseFetch(
      new Request(new URL("/v1/sessions/refresh", this.identityUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      }),
    );
    if (!response.ok) {
      this.tokens = undefined;
      return false;
    }
    const body = (await response.json()) as { access_token: string; refresh_token: string };
    this.tokens = { accessToken: body.access_token, refreshToken: body.refresh_token };
    return true;
  }

  /** A fetch for openapi-fetch's `createClient({ fetch })`: bearer token, one refresh-and-retry on 401. */
  readonly fetch: FetchLike = async (request: Request): Promise<Response> => {
    const retry = request.clone();
    const first = await this.send(request);
    if (first.status !== 401 || !this.tokens?.refreshToken || isSessionEndpoint(request)) {
      return first;
    }
    const sentWith = request.headers.get("authorization");
    // Someone else may have refreshed while this request was in flight: retry with the new token first.
    const fresh = sentWith !== `Bearer ${this.tokens.accessToken}` || (await this.refresh());
    return fresh ? this.send(retry) : first;
  };

  private send(request: Request): Promise<Response> {
    if (this.tokens) {
      request.headers.set("authorization", `Bearer ${this.tokens.accessToken}`);
    }
    return this.baseFetch(request);
  }
}

/** Login and refresh answer 401 for bad credentials: never "refresh and retry" those. */
function isSessionEndpoint(request: Request): boolean {
  const path = new URL(request.url).pathname;
  return path === "/v1/sessions" || path === "/v1/sessions/refresh";
}
