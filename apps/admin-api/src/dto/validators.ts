import { registerDecorator, type ValidationArguments } from 'class-validator';
import { clientPatternProblem, exportPathProblem, filesystemNameProblem } from '@ferry/control';

/** A class-validator decorator from one of libs/control's checks, with its sentence as the message. */
function fromProblem(check: (v: unknown) => string | undefined, each = false): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: check.name,
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (value: unknown) => (each ? Array.isArray(value) && value.every((v) => !check(v)) : !check(value)),
        defaultMessage: (args?: ValidationArguments) => {
          const value = args?.value;
          const bad = each && Array.isArray(value) ? value.find((v) => check(v)) : value;
          return check(bad) ?? `${String(propertyName)} is invalid`;
        },
      },
    });
  };
}

export const IsFilesystemName = (): PropertyDecorator => fromProblem(filesystemNameProblem);
export const IsExportPath = (): PropertyDecorator => fromProblem(exportPathProblem);
export const IsClientPatterns = (): PropertyDecorator => fromProblem(clientPatternProblem, true);

/** Device paths: absolute, no NUL, at most PATH_MAX. */
export const IsDevicePath = (): PropertyDecorator =>
  fromProblem((v: unknown) => {
    if (typeof v !== 'string') return 'path must be a string';
    if (!v.startsWith('/')) return 'path must be absolute';
    if (v.includes('\0')) return 'path must not contain NUL';
    if (Buffer.byteLength(v) > 4096) return 'path must be at most 4096 bytes';
    if (v.split('/').some((s) => s === '..')) return 'path must not contain ".." segments';
    return undefined;
  });
