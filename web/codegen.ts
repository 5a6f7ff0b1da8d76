import type { CodegenConfig } from "@graphql-codegen/cli";

// Types of the UI's GraphQL operations, from the committed supergraph SDL (gateway/supergraph.graphql).
const config: CodegenConfig = {
  schema: "../gateway/supergraph.graphql",
  documents: ["src/graphql/operations.graphql"],
  generates: {
    "src/graphql/generated.ts": {
      plugins: ["typescript", "typescript-operations"],
      config: {
        enumsAsTypes: true,
        avoidOptionals: true,
        useTypeImports: true,
        scalars: { Date: "string", DateTime: "string", ID: "string" },
      },
    },
  },
};
export default config;
