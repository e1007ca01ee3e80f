/**
 * Credentials generations: a generation is a distinct set of credentials, numbered in the order the credentials
 * service first resolved it. Every rule about generations lives here: what counts as a new set, and when a
 * caller's view is stale.
 *
 * - A new generation is a different set: another access key id, or the same id with another session token. A
 *   provider that answers with the set it already gave (a source lagging a revocation, a static key) makes no new
 *   generation, so it never counts as progress.
 * - A set is `untried` until AWS has answered a request signed with it, `accepted` once AWS has served one, and
 *   `rejected` after AWS refused it. A rejection of an untried set may be a new key still propagating: it is tried
 *   again, within the caller's bound. A rejection of an accepted set is a rotation or a revocation: only a newer
 *   generation helps.
 *
 * @since 0.2.0
 */
import type { AwsCredentialIdentity } from "@smithy/types"

/**
 * The generation before any set was resolved.
 *
 * @since 0.2.0
 * @category constants
 */
export const none = 0

/**
 * Whether two identities are the same set (the secret cannot differ for the same key id and token).
 *
 * @since 0.2.0
 * @category predicates
 */
export const sameSet = (a: AwsCredentialIdentity, b: AwsCredentialIdentity): boolean =>
  a.accessKeyId === b.accessKeyId && (a.sessionToken ?? "") === (b.sessionToken ?? "")

/**
 * The number of the set a provider answered with, given the cached one: unchanged for the same set.
 *
 * @since 0.2.0
 * @category constructors
 */
export const numberFor = (
  cached: { readonly generation: number; readonly identity: AwsCredentialIdentity } | undefined,
  identity: AwsCredentialIdentity
): number =>
  cached === undefined ? none + 1 : sameSet(cached.identity, identity) ? cached.generation : cached.generation + 1

/**
 * Whether `candidate` is newer than the generation a caller saw: what makes a renewal progress.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isNewer = (candidate: number, seen: number): boolean => candidate > seen

/**
 * Whether a client built from generation `built` can sign for the credentials of generation `wanted`.
 *
 * @since 0.2.0
 * @category predicates
 */
export const covers = (built: number, wanted: number): boolean => built >= wanted

/**
 * Whether a credentials source (`AwsCredentials.source`) cannot hand out another set while the process runs: the
 * environment variables (as Lambda sets them for an execution environment) and keys in code. A set from such a
 * source that AWS accepted and then rejected is dead for good.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isFixedSource = (source: string): boolean => source === "environment" || source === "static"
