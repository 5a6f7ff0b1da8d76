// Apollo Gateway over the cloudops subgraphs, from the committed supergraph (no polling, no Rover).
//   CLOUDOPS_API_URL=http://127.0.0.1:8000 PORT=4000 node server.mjs
// The client's Authorization header is forwarded to every subgraph: each subgraph checks the token
// and binds the request to the token's tenant itself. Prints "gateway ready at <url>" when serving.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";

const here = dirname(fileURLToPath(import.meta.url));
const api = (process.env.CLOUDOPS_API_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
const port = Number(process.env.PORT || 4000);
const host = process.env.HOST || "127.0.0.1";

class ForwardAuth extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set("authorization", context.authorization);
    if (context.requestId) request.http.headers.set("x-request-id", context.requestId);
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(join(here, "supergraph.graphql"), "utf8"),
  buildService: ({ name }) => new ForwardAuth({ url: `${api}/graphql/${name}` }),
});

const server = new ApolloServer({ gateway, introspection: true, csrfPrevention: true });
const { url } = await startStandaloneServer(server, {
  listen: { port, host },
  context: async ({ req }) => ({
    authorization: req.headers.authorization || "",
    requestId: req.headers["x-request-id"] || "",
  }),
});
console.log(`gateway ready at ${url}`);
