#!/usr/bin/env node
/**
 * `npm run build:sdk` (API.md §14, issue 26): builds the `edge-auth` package in sdk/ (its own
 * package.json) into sdk/dist:
 * - sdk/dist/client/index.js and sdk/dist/server/index.js: ESM bundles (esbuild). The client bundles
 *   everything it uses (no zod: its types are type-only imports); the server helper leaves jose (a
 *   dependency) and hono (an optional peer, types only) to the importer.
 * - sdk/dist/client/*.d.ts and sdk/dist/server/*.d.ts: declarations (tsc), made self-contained by
 *   `selfContained` below: every type the SDK borrows from the service (src/, zod) is written out
 *   structurally, the imports of src/ and zod go, and relative imports carry `.js` (NodeNext).
 *   The result is then type-checked on its own (`checkDeclarations`): a declaration that still
 *   needs the service fails the build.
 * `buildClientBundle()` is also what the browser tabs test serves to Chromium.
 *
 * @example
 * npm run build:sdk           # sdk/dist/{client,server}/index.js with their .d.ts
 * npm run pack:sdk            # the same, then `npm pack` of sdk/: prints the tarball's path last
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import ts from "typescript";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sdkRoot = join(root, "sdk");
const outRoot = join(sdkRoot, "dist");

const common = {
  bundle: true,
  format: "esm",
  platform: "neutral",
  // Hermes (React Native) and older Safari: no ??= or class static blocks.
  target: "es2020",
  legalComments: "none",
  logLevel: "warning",
};

/** The client as one ESM string (minified when asked), without touching dist/. */
export async function buildClientBundle({ minify = false } = {}) {
  const result = await build({ ...common, entryPoints: [join(sdkRoot, "client/index.ts")], write: false, minify });
  return result.outputFiles[0].text;
}

/** Modules the published declarations may import: the package's dependency, its peer, TypeScript's lib. */
const ALLOWED_MODULES = /[\\/]node_modules[\\/](jose|hono|typescript)[\\/]/;
const FLAGS = ts.NodeBuilderFlags.NoTruncation | ts.NodeBuilderFlags.InTypeAlias | ts.NodeBuilderFlags.IgnoreErrors;

const inSdk = (fileName) => fileName.startsWith(sdkRoot + "/") || fileName.startsWith(sdkRoot + sep);
const borrowed = (declaration) => {
  const file = declaration.getSourceFile().fileName;
  return !inSdk(file) && !ALLOWED_MODULES.test(file);
};

/**
 * A declaration transformer: type nodes that name something of the service (src/, zod) become the
 * structural type they denote; imports of src/ and zod are dropped; "./x" becomes "./x.js".
 */
function selfContained(program) {
  const checker = program.getTypeChecker();
  const { factory } = ts;

  const resolve = (symbol) => (symbol && symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
  /** Whether `node` (a source node) names anything borrowed. */
  const namesBorrowed = (node) => {
    let found = false;
    const visit = (child) => {
      if (found) return;
      if (ts.isIdentifier(child)) {
        const symbol = resolve(checker.getSymbolAtLocation(child));
        if (symbol?.declarations?.some(borrowed)) found = true;
      }
      ts.forEachChild(child, visit);
    };
    visit(node);
    return found;
  };

  /** A named type of the service (interface, alias) is written out; anything else as the checker prints it. */
  const isBorrowedNamed = (type) =>
    (type.aliasSymbol?.declarations?.some(borrowed) ?? false) ||
    ((type.flags & ts.TypeFlags.Object) !== 0 && (type.symbol?.declarations?.some(borrowed) ?? false) &&
      (type.symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class)) !== 0);

  const print = (type, depth = 0) => {
    if (depth > 12) throw new Error(`build:sdk: type too deep to write out: ${checker.typeToString(type)}`);
    if (type.isUnion() && !(type.flags & ts.TypeFlags.Boolean) && type.types.some(isBorrowedNamed)) {
      return factory.createUnionTypeNode(type.types.map((member) => print(member, depth + 1)));
    }
    if (checker.isArrayType(type)) {
      const [element] = checker.getTypeArguments(type);
      if (isBorrowedNamed(element)) return factory.createArrayTypeNode(print(element, depth + 1));
    }
    if (isBorrowedNamed(type) && type.flags & ts.TypeFlags.Object && !type.isUnion()) {
      const members = checker.getPropertiesOfType(type).map((property) => {
        const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
        const node = factory.createPropertySignature(
          undefined,
          property.name,
          optional ? factory.createToken(ts.SyntaxKind.QuestionToken) : undefined,
          print(checker.getTypeOfSymbol(property), depth + 1),
        );
        const doc = ts.displayPartsToString(property.getDocumentationComment(checker));
        if (doc) ts.addSyntheticLeadingComment(node, ts.SyntaxKind.MultiLineCommentTrivia, `* ${doc} `, true);
        return node;
      });
      return factory.createTypeLiteralNode(members);
    }
    const node = checker.typeToTypeNode(type, undefined, FLAGS);
    if (!node) throw new Error(`build:sdk: cannot write out ${checker.typeToString(type)}`);
    return node;
  };

  /** The checker prints object types on one line; written out, they read better one member a line. */
  const multiline = (node) => {
    const visit = (child) => {
      ts.setEmitFlags(child, ts.getEmitFlags(child) & ~ts.EmitFlags.SingleLine);
      return ts.visitEachChild(child, visit, undefined);
    };
    return visit(node);
  };

  const withJs = (specifier) => (/^\.\.?\//.test(specifier) && !/\.(m?js|json)$/.test(specifier) ? `${specifier}.js` : specifier);
  const leavesSdk = (specifier, fileName) => {
    if (!/^\.\.?\//.test(specifier)) return /zod/.test(specifier);
    return !inSdk(join(dirname(fileName), specifier));
  };

  return (context) => (sourceFile) => {
    const fileName = sourceFile.fileName.replace(/\.d\.ts$/, ".ts");
    const visit = (node) => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const specifier = node.moduleSpecifier.text;
        if (leavesSdk(specifier, fileName)) {
          if (ts.isExportDeclaration(node)) throw new Error(`build:sdk: ${relative(root, fileName)} re-exports "${specifier}": declare the type in sdk/ instead`);
          return undefined;
        }
        const literal = factory.createStringLiteral(withJs(specifier));
        return ts.isImportDeclaration(node)
          ? factory.updateImportDeclaration(node, node.modifiers, node.importClause, literal, node.attributes)
          : factory.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, literal, node.attributes);
      }
      if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
        const specifier = node.argument.literal.text;
        if (!leavesSdk(specifier, fileName)) {
          return factory.updateImportTypeNode(node, factory.createLiteralTypeNode(factory.createStringLiteral(withJs(specifier))), node.attributes, node.qualifier, node.typeArguments, node.isTypeOf);
        }
      }
      if (ts.isTypeNode(node)) {
        const original = ts.getOriginalNode(node);
        if (original.pos >= 0 && original.getSourceFile?.() && namesBorrowed(original)) {
          return multiline(print(checker.getTypeFromTypeNode(original)));
        }
      }
      // A type parameter's constraint on a service type (e.g. `T extends z.ZodType`) is dropped with
      // the rest: it is written out by `print` only when it names nothing generic.
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitEachChild(sourceFile, visit, context);
  };
}

/** Writes sdk/dist/<client|server>/*.d.ts: self-contained, `.js` relative imports. */
function emitDeclarations() {
  const configPath = join(root, "tsconfig.sdk.json");
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n")); } });
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, noEmit: false, declaration: true, emitDeclarationOnly: true, outDir: undefined, declarationDir: undefined } });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length) {
    throw new Error(ts.formatDiagnosticsWithColorAndContext(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" }));
  }
  const written = [];
  for (const sourceFile of program.getSourceFiles()) {
    if (!inSdk(sourceFile.fileName) || sourceFile.isDeclarationFile) continue;
    const result = program.emit(
      sourceFile,
      (fileName, text) => {
        if (!fileName.endsWith(".d.ts")) return;
        const target = join(outRoot, relative(sdkRoot, sourceFile.fileName).replace(/\.ts$/, ".d.ts"));
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, text);
        written.push(target);
      },
      undefined,
      true,
      { afterDeclarations: [selfContained(program)] },
    );
    if (result.emitSkipped) throw new Error(`build:sdk: no declarations for ${sourceFile.fileName}`);
  }
  return written;
}

/**
 * The written declarations on their own, as an app sees them (NodeNext, strict, no skipLibCheck):
 * only jose and hono resolvable. A type still borrowed from the service fails here.
 */
function checkDeclarations(files) {
  const options = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    types: [],
    skipLibCheck: false,
  };
  const host = ts.createCompilerHost(options);
  const program = ts.createProgram({ rootNames: files, options, host });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const text = files.map((file) => ts.sys.readFile(file)).join("\n");
  if (/(from |import\()"[^"]*(\/src\/|zod)/.test(text)) diagnostics.push({ messageText: "a declaration still imports the service (src/ or zod)", category: 1, code: 0 });
  if (diagnostics.length) {
    throw new Error(`build:sdk: the declarations do not stand alone:\n${ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" })}`);
  }
}

export async function buildSdk() {
  rmSync(outRoot, { recursive: true, force: true });
  await build({ ...common, entryPoints: [join(sdkRoot, "client/index.ts")], outfile: join(outRoot, "client/index.js") });
  await build({
    ...common,
    entryPoints: [join(sdkRoot, "server/index.ts")],
    outfile: join(outRoot, "server/index.js"),
    external: ["jose", "hono", "hono/*"],
  });
  checkDeclarations(emitDeclarations());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildSdk();
  console.log("build:sdk: sdk/dist/client/index.js, sdk/dist/server/index.js and their .d.ts");
}
