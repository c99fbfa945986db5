/**
 * What scripts/oidc-provider-server.mjs provides to both test projects (`inject("oidc")`): the
 * loopback issuers and the clients registered there. Types only, so the browser project (Node) and
 * the workers project can both import it.
 *
 * @example
 * import "../helpers/oidc-provided";
 * const { issuer } = inject("oidc");
 */
export interface OidcClients {
  web: { id: string; secret: string };
  native: { id: string };
  apple: { id: string; native: string; teamId: string; keyId: string };
  google: { id: string; native: string; secret: string };
  rotating: { id: string };
}

export interface ProvidedOidc {
  issuer: string;
  rotatingIssuer: string;
  clients: OidcClients;
}

declare module "vitest" {
  export interface ProvidedContext {
    oidc: ProvidedOidc;
  }
}
