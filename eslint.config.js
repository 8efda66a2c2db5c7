// ESLint for the frontend (flat config): typescript-eslint's recommended rules, and the layer
// rule of docs/architecture.md: core ← viewer ← features (slides, annotations, training,
// inference) ← main.ts; a feature never imports another feature.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

const FEATURES = ["slides", "annotations", "training", "inference"];

/** An import of one of `folders` (from anywhere in frontend/src) or of main.ts. */
function forbid(folders, why) {
  return {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          { group: folders.map((folder) => `**/${folder}/**`), message: why },
          { group: ["**/main", "**/main.ts"], message: "Nothing imports the entry point." },
        ],
      },
    ],
  };
}

/** The rules of one feature folder: core and viewer only, no other feature. */
function feature(name) {
  return {
    files: [`frontend/src/${name}/**/*.ts`],
    rules: forbid(
      FEATURES.filter((other) => other !== name),
      `A feature imports core/ and viewer/ only; share code through core/, not ${name} → feature.`,
    ),
  };
}

export default tseslint.config(
  { ignores: ["static/", "node_modules/", ".venv/", "data/", "server/", "tests/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["frontend/**/*.ts"],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ["*.config.{js,ts}"],
    languageOptions: { globals: globals.node },
  },
  {
    files: ["frontend/src/core/**/*.ts"],
    rules: forbid(
      ["viewer", ...FEATURES],
      "core/ is the bottom layer: it imports nothing above it.",
    ),
  },
  {
    files: ["frontend/src/viewer/**/*.ts"],
    rules: forbid(FEATURES, "viewer/ imports core/ only, never a feature."),
  },
  ...FEATURES.map(feature),
);
