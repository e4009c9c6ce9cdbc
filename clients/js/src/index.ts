export { Session, type Tokens, type FetchLike } from "./session.js";
export { IdentityClient, ApiError, type User, type Problem } from "./identity.js";
export type { paths as IdentityPaths } from "./generated/identity.js";
